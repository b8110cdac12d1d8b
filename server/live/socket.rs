//! Location frames on the rep's socket `/live/ws`: each text frame is one ping envelope (one
//! element of `POST /api/pings`), taken through the same checks (gathered with other reps'
//! frames into one flush, `pipeline::Committer`) and answered with one JSON frame after the
//! commit; the rep's alerts are pushed on the same socket (`docs/live.md`, "The socket").

use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

use super::Live;
use super::envelope::RawPing;
use super::ingest::{LiveError, PingResult};

/// Largest message a device may send: one envelope is about 300 bytes.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024;
/// Largest frame (a message is one frame; phones do not fragment 300 bytes).
pub const MAX_FRAME_BYTES: usize = 4 * 1024;
/// The socket's read buffer (axum's default is 128 KiB).
pub const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Answers are written out at once, not gathered (axum's default gathers 128 KiB).
pub const WRITE_BUFFER_BYTES: usize = 0;
/// Most answer bytes held for a phone that does not read; beyond it the socket closes.
pub const MAX_WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// How long one answer may wait for a phone that does not read before the socket closes.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's answer to one frame.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// What became of the ping (stored ones are committed), as in `POST /api/pings`' results.
    Ack(PingResult),
    /// The rep's bucket is empty: nothing stored; send the ping again after this many seconds.
    RateLimited { retry_after_s: u64 },
    /// The frame was not a ping envelope, or could not be handled; the socket stays open.
    Error {
        error: &'static str,
        message: String,
    },
}

impl Reply {
    fn error(error: &'static str, message: impl Into<String>) -> Self {
        Self::Error {
            error,
            message: message.into(),
        }
    }

    /// The reply as the text of a frame.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","error":"internal","message":"unanswerable"}"#.to_owned()
        })
    }
}

/// Answers a binary frame: only text frames carry pings.
pub fn binary_frame() -> Reply {
    Reply::error("bad_frame", "send each ping as a JSON text frame")
}

/// Handles one text frame from `rep`'s device (`None`: the token's owner is not a rep):
/// parses it, ingests it in the next flush, and says what became of it.
pub async fn answer(live: &Live, rep: Option<Uuid>, text: &str) -> Reply {
    let Some(rep) = rep else {
        return Reply::error("forbidden", "only reps send their location");
    };
    let raw: RawPing = match serde_json::from_str(text) {
        Ok(raw) => raw,
        Err(e) => return Reply::error("bad_frame", format!("not a ping envelope: {e}")),
    };
    match live.committer.submit(rep, raw).await {
        Ok(result) => Reply::Ack(result),
        Err(LiveError::RateLimited(wait)) => Reply::RateLimited {
            retry_after_s: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
        },
        Err(e @ (LiveError::TooManyPings | LiveError::TooManyCurrent(_))) => {
            Reply::error("bad_frame", e.to_string())
        }
        Err(LiveError::Unstored) => {
            Reply::error("internal", "the ping was not stored; send it again")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_tagged_frames() {
        let limited = Reply::RateLimited { retry_after_s: 3 }.to_text();
        assert_eq!(limited, r#"{"type":"rate_limited","retry_after_s":3}"#);
        let v: serde_json::Value = serde_json::from_str(&binary_frame().to_text()).expect("json");
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"], "bad_frame");
    }
}
