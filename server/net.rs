//! Small facts about network addresses that several capabilities check.

/// Whether `url` is plain http to this machine: a loopback IP address, `localhost` or a
/// name under `.localhost` (RFC 6761 keeps those on the loopback interface).
pub fn is_loopback_http(url: &reqwest::Url) -> bool {
    url.scheme() == "http" && url.host_str().is_some_and(is_loopback_host)
}

/// Whether a host name or address (as a URL or a `Host` header names it, without the port;
/// IPv6 in brackets or not) is this machine's loopback.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        ip.is_loopback()
    } else {
        let name = bare.trim_end_matches('.').to_ascii_lowercase();
        name == "localhost" || name.ends_with(".localhost")
    }
}

/// Serves `router` on 127.0.0.1 on a free port and returns its base URL: a local fake of an
/// outside service (a CRM, a geocoder) for tests.
#[cfg(test)]
pub(crate) async fn serve_local(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("fake server");
    });
    format!("http://{addr}")
}
