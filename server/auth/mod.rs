//! Who is signed in, with which role, and which records they may see: the one place for authorization rules.

pub mod csrf;
pub mod db;
pub mod devices;
pub mod oidc;
pub mod ratelimit;
pub mod secret;
pub mod tokens;

use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;
use thiserror::Error;
use tower_sessions::Session;
use uuid::Uuid;

use crate::audit::{self, AuditEvent};

/// Session keys.
const USER_ID_KEY: &str = "uid";
const SIGNED_IN_AT_KEY: &str = "signed_in_at_ms";

/// What a signed-in person is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "user_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages CRM connections, users and roles; sees everything.
    Admin,
    /// Sees and edits their team's territories and accounts.
    Manager,
    /// Sees their own accounts, route and alerts.
    Rep,
}

impl Role {
    /// The name used in the database, pages and JSON (`admin`, `manager`, `rep`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Rep => "rep",
        }
    }
}

/// A person who can sign in.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// `None`: signed in but waiting for an admin to grant access.
    pub role: Option<Role>,
    /// The rep record of a user with role rep.
    pub rep_id: Option<Uuid>,
    pub disabled: bool,
}

/// Which accounts (by owning rep) a user may see. Services filter every query by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every record (admins).
    All,
    /// Records owned by these reps only (a rep: themself; a manager: their team). May be empty.
    Reps(Vec<Uuid>),
}

impl Scope {
    /// `None` for [`Scope::All`], else the rep ids: the shape SQL filters take
    /// (`$n::uuid[] is null or owner_rep_id = any($n)`).
    pub fn rep_filter(&self) -> Option<&[Uuid]> {
        match self {
            Scope::All => None,
            Scope::Reps(ids) => Some(ids),
        }
    }

    pub fn allows_rep(&self, rep_id: Option<Uuid>) -> bool {
        match self {
            Scope::All => true,
            Scope::Reps(ids) => rep_id.is_some_and(|r| ids.contains(&r)),
        }
    }
}

#[derive(Debug, Error)]
pub enum AuthError {
    #[error("unknown or disabled user")]
    UnknownUser,
    #[error("session store failed: {0}")]
    Session(#[from] tower_sessions::session::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The records `user` may see.
pub async fn scope_for(pool: &PgPool, user: &User) -> Result<Scope, sqlx::Error> {
    match user.role {
        Some(Role::Admin) => Ok(Scope::All),
        Some(Role::Manager) => Ok(Scope::Reps(db::team_rep_ids(pool, user.id).await?)),
        Some(Role::Rep) => Ok(Scope::Reps(user.rep_id.into_iter().collect())),
        None => Ok(Scope::Reps(Vec::new())),
    }
}

/// Signs `user_id` in on this browser session: a new session id (the pre-sign-in id is dead
/// afterwards, so a planted id is useless), the sign-in time for the absolute timeout, and an
/// audit entry.
pub async fn sign_in(
    pool: &PgPool,
    session: &Session,
    user_id: Uuid,
    method: &str,
) -> Result<User, AuthError> {
    let user = db::user_by_id(pool, user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or(AuthError::UnknownUser)?;
    session.cycle_id().await?;
    // Tokens bound to the anonymous session (CSRF, login state) must not survive sign-in.
    session.clear().await;
    session.insert(USER_ID_KEY, user.id).await?;
    session.insert(SIGNED_IN_AT_KEY, now_ms()).await?;
    let mut tx = pool.begin().await?;
    db::touch_sign_in(&mut *tx, user.id).await?;
    audit::commit_with(
        tx,
        AuditEvent::new(Some(user.id), "auth.sign_in")
            .about("user", user.id.to_string())
            .with(serde_json::json!({ "method": method })),
    )
    .await?;
    tracing::info!(user_id = %user.id, method, "signed in");
    Ok(user)
}

/// Ends the session on the server (the row is deleted, not just the cookie).
pub async fn sign_out(pool: &PgPool, session: &Session, user: &User) -> Result<(), AuthError> {
    session.flush().await?;
    audit::record(
        pool,
        AuditEvent::new(Some(user.id), "auth.sign_out").about("user", user.id.to_string()),
    )
    .await?;
    Ok(())
}

/// The user signed in on `session`, if any. A session older than `max_age` (the absolute
/// timeout) or whose user was disabled is ended here.
pub async fn current_user(
    pool: &PgPool,
    session: &Session,
    max_age: Duration,
) -> Result<Option<User>, AuthError> {
    let Some(user_id) = session.get::<Uuid>(USER_ID_KEY).await? else {
        return Ok(None);
    };
    let signed_in_at = session.get::<u64>(SIGNED_IN_AT_KEY).await?.unwrap_or(0);
    let age_ms = now_ms().saturating_sub(signed_in_at);
    if u128::from(age_ms) > max_age.as_millis() {
        session.flush().await?;
        return Ok(None);
    }
    match db::user_by_id(pool, user_id).await? {
        Some(user) if !user.disabled => Ok(Some(user)),
        _ => {
            session.flush().await?;
            Ok(None)
        }
    }
}

/// Why a verified OpenID identity could not become a Terrane user.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("your identity provider did not confirm your email address")]
    EmailNotVerified,
    #[error("this email address is already linked to another sign-in identity")]
    LinkedElsewhere,
}

/// Finds or creates the user for a verified identity: by (issuer, subject) first, then by
/// verified email (first sign-in links the seeded rep or manager record); someone unknown
/// becomes a new user without a role ("waiting for access").
pub async fn user_for_identity(
    pool: &PgPool,
    id: &oidc::VerifiedIdentity,
) -> Result<Result<Uuid, LinkError>, sqlx::Error> {
    if let Some(user) = db::user_by_subject(pool, &id.issuer, &id.subject).await? {
        return Ok(Ok(user));
    }
    let Some(email) = id.email.as_deref().filter(|_| id.email_verified) else {
        return Ok(Err(LinkError::EmailNotVerified));
    };
    let linked = db::link_or_create(
        pool,
        email,
        id.name.as_deref().unwrap_or(""),
        &id.issuer,
        &id.subject,
    )
    .await?;
    Ok(linked.ok_or(LinkError::LinkedElsewhere))
}

/// Why an admin's role change was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RoleChangeError {
    #[error("no such user")]
    UnknownUser,
    #[error("a user with the rep role must be linked to a rep record")]
    RepWithoutRecord,
    #[error("no such rep record")]
    UnknownRep,
    #[error("that rep record is already linked to another user")]
    RepTaken,
    #[error("admins cannot remove their own admin role or disable themselves (ask another admin)")]
    SelfDemotion,
    #[error("this is the last admin: make another user admin first")]
    LastAdmin,
    /// The change takes access away and the admin has not confirmed it yet.
    #[error("this change removes access: {0}")]
    Unconfirmed(AccessRemoval),
}

/// What a role change takes away, for the confirmation an admin must give first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessRemoval {
    /// Back to "waiting": the user can no longer see anything.
    AllAccess,
    /// A lower role (admin to manager, manager to rep...).
    Demotion,
    /// A rep linked to another rep record no longer sees their accounts.
    RepRecordChanged,
}

impl std::fmt::Display for AccessRemoval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AccessRemoval::AllAccess => "the user will no longer be able to see anything",
            AccessRemoval::Demotion => "the user will lose the rights of their current role",
            AccessRemoval::RepRecordChanged => {
                "the user will no longer see the accounts of their current rep record"
            }
        })
    }
}

impl Role {
    /// Higher sees and does more: admin > manager > rep.
    fn rank(self) -> u8 {
        match self {
            Role::Admin => 3,
            Role::Manager => 2,
            Role::Rep => 1,
        }
    }
}

/// What changing `(role, rep)` from `before` to `after` takes away, if anything.
pub fn access_removed(
    before: (Option<Role>, Option<Uuid>),
    after: (Option<Role>, Option<Uuid>),
) -> Option<AccessRemoval> {
    let rank = |r: Option<Role>| r.map_or(0, Role::rank);
    match (before, after) {
        ((Some(_), _), (None, _)) => Some(AccessRemoval::AllAccess),
        ((b, _), (a, _)) if rank(a) < rank(b) => Some(AccessRemoval::Demotion),
        ((Some(Role::Rep), Some(old)), (Some(Role::Rep), new)) if new != Some(old) => {
            Some(AccessRemoval::RepRecordChanged)
        }
        _ => None,
    }
}

/// An admin gives `target` a role (or none: back to waiting), audited in the same transaction.
/// A change that takes access away needs `confirmed`; the last enabled admin keeps the role.
pub async fn change_role(
    pool: &PgPool,
    actor: &User,
    target: Uuid,
    role: Option<Role>,
    rep_id: Option<Uuid>,
    confirmed: bool,
) -> Result<Result<(), RoleChangeError>, sqlx::Error> {
    let rep_id = if role == Some(Role::Rep) {
        rep_id
    } else {
        None
    };
    if role == Some(Role::Rep) && rep_id.is_none() {
        return Ok(Err(RoleChangeError::RepWithoutRecord));
    }
    if target == actor.id && role != Some(Role::Admin) {
        return Ok(Err(RoleChangeError::SelfDemotion));
    }
    let mut tx = pool.begin().await?;
    // Admins first, in one order: two admins demoting each other at once then run one after
    // the other (no deadlock), and the second sees that it would remove the last admin.
    let other_admins = db::lock_other_enabled_admins(&mut *tx, target).await?;
    let Some(before) = db::user_by_id_for_update(&mut *tx, target).await? else {
        return Ok(Err(RoleChangeError::UnknownUser));
    };
    if let Some(rep) = rep_id {
        match db::rep_link(&mut *tx, rep).await? {
            None => return Ok(Err(RoleChangeError::UnknownRep)),
            Some(Some(linked)) if linked != target => return Ok(Err(RoleChangeError::RepTaken)),
            Some(_) => {}
        }
    }
    if (before.role, before.rep_id) == (role, rep_id) {
        return Ok(Ok(())); // saved unchanged: nothing to write or audit
    }
    if before.role == Some(Role::Admin) && role != Some(Role::Admin) && other_admins == 0 {
        return Ok(Err(RoleChangeError::LastAdmin));
    }
    // Asked only once the change is known to be allowed.
    if let Some(removal) = access_removed((before.role, before.rep_id), (role, rep_id))
        && !confirmed
    {
        return Ok(Err(RoleChangeError::Unconfirmed(removal)));
    }
    db::set_role(&mut *tx, target, role, rep_id).await?;
    // Tokens an admin made stop working when they stop being one.
    let tokens_revoked = if before.role == Some(Role::Admin) && role != Some(Role::Admin) {
        tokens::revoke_created_by(&mut tx, actor.id, target, "creator demoted").await?
    } else {
        0
    };
    audit::commit_with(
        tx,
        AuditEvent::new(Some(actor.id), "user.role_changed")
            .about("user", target.to_string())
            .with(serde_json::json!({
                "from": { "role": before.role, "rep_id": before.rep_id },
                "to": { "role": role, "rep_id": rep_id },
                "api_tokens_revoked": tokens_revoked,
            })),
    )
    .await?;
    Ok(Ok(()))
}

/// An admin disables (or enables again) a user. Disabling ends their sessions (checked on
/// every request), revokes their device tokens and closes their open sockets at once, and
/// revokes the API tokens they made; the last enabled admin and the admin themself cannot be
/// disabled. Audited in the same transaction.
pub async fn set_disabled(
    pool: &PgPool,
    revocations: &devices::Revocations,
    actor: &User,
    target: Uuid,
    disabled: bool,
) -> Result<Result<(), RoleChangeError>, sqlx::Error> {
    if disabled && target == actor.id {
        return Ok(Err(RoleChangeError::SelfDemotion));
    }
    let mut tx = pool.begin().await?;
    let other_admins = db::lock_other_enabled_admins(&mut *tx, target).await?;
    let Some(before) = db::user_by_id_for_update(&mut *tx, target).await? else {
        return Ok(Err(RoleChangeError::UnknownUser));
    };
    if before.disabled == disabled {
        return Ok(Ok(()));
    }
    if disabled && before.role == Some(Role::Admin) && other_admins == 0 {
        return Ok(Err(RoleChangeError::LastAdmin));
    }
    db::set_disabled(&mut *tx, target, disabled).await?;
    let (devices_revoked, tokens_revoked) = if disabled {
        (
            devices::revoke_all_in(&mut tx, actor.id, target).await?,
            tokens::revoke_created_by(&mut tx, actor.id, target, "creator disabled").await?,
        )
    } else {
        (0, 0)
    };
    audit::commit_with(
        tx,
        AuditEvent::new(
            Some(actor.id),
            if disabled {
                "user.disabled"
            } else {
                "user.enabled"
            },
        )
        .about("user", target.to_string())
        .with(serde_json::json!({
            "device_tokens_revoked": devices_revoked,
            "api_tokens_revoked": tokens_revoked,
        })),
    )
    .await?;
    if disabled {
        revocations.announce(target);
    }
    Ok(Ok(()))
}

fn now_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

/// An admin lets a user see reps' precise positions on live maps (or stops it); audited
/// (`user.live_precise`) in the same transaction. False: no such user.
pub async fn set_live_precise(
    pool: &PgPool,
    actor: Uuid,
    target: Uuid,
    allowed: bool,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    if !db::set_live_precise(&mut *tx, target, allowed).await? {
        return Ok(false);
    }
    let event = AuditEvent::new(Some(actor), "user.live_precise")
        .about("user", target.to_string())
        .with(serde_json::json!({ "allowed": allowed }));
    audit::commit_with(tx, event).await?;
    Ok(true)
}

/// Whether `user` may see precise positions on live maps: admins, and users given it.
pub async fn may_see_precise(pool: &PgPool, user: &User) -> Result<bool, sqlx::Error> {
    if user.role == Some(Role::Admin) {
        return Ok(true);
    }
    db::live_precise(pool, user.id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_removes_access_when_it_lowers_the_role_or_moves_a_rep_elsewhere() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let rep = |id| (Some(Role::Rep), Some(id));
        let cases = [
            (
                (Some(Role::Manager), None),
                (None, None),
                Some(AccessRemoval::AllAccess),
            ),
            (
                (Some(Role::Admin), None),
                (Some(Role::Manager), None),
                Some(AccessRemoval::Demotion),
            ),
            (
                (Some(Role::Manager), None),
                rep(a),
                Some(AccessRemoval::Demotion),
            ),
            (rep(a), rep(b), Some(AccessRemoval::RepRecordChanged)),
            (rep(a), rep(a), None),
            (
                (Some(Role::Manager), None),
                (Some(Role::Manager), None),
                None,
            ),
            ((None, None), rep(a), None),
            (rep(a), (Some(Role::Admin), None), None),
        ];
        for (before, after, removal) in cases {
            assert_eq!(
                access_removed(before, after),
                removal,
                "{before:?} -> {after:?}"
            );
        }
    }

    #[test]
    fn scopes_filter_by_owning_rep() {
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        assert!(Scope::All.allows_rep(None));
        assert_eq!(Scope::All.rep_filter(), None);
        let team = Scope::Reps(vec![a]);
        assert!(team.allows_rep(Some(a)));
        assert!(!team.allows_rep(Some(b)));
        assert!(!team.allows_rep(None), "unowned records are not a team's");
        assert!(!Scope::Reps(vec![]).allows_rep(Some(a)));
    }
}
