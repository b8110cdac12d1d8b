//! Test harness: starts the real app on 127.0.0.1:0 against a per-test database.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sqlx::PgPool;
use terrane::app::AppState;
use terrane::config::Config;
use terrane::seed::dataset::DemoDataset;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running server; stops when dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// The server's state (database, CRM clients), for driving workers directly.
    pub state: AppState,
    _stop: oneshot::Sender<()>,
}

/// TERRANE_SECRET_KEY of test servers (32 bytes, base64; tests only).
pub const TEST_SECRET_KEY: &str = "dGVycmFuZS10ZXN0LWtleS0zMi1ieXRlcy1sb25nISE=";

/// The seeded demo admin (sees every account).
pub const ADMIN: &str = "admin@example.com";

/// A client that keeps cookies (a browser session) and does not follow redirects.
pub fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The CSRF token in a page's first `name="csrf"` hidden field.
pub fn csrf_in(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("page has a csrf field") + marker.len();
    let end = html[start..].find('"').expect("closing quote") + start;
    html[start..end].to_owned()
}

impl TestApp {
    /// A fresh browser session signed in through the demo sign-in form as `email`.
    pub async fn client_as(&self, email: &str) -> reqwest::Client {
        let client = cookie_client();
        let html = page_html(&client, self, "/login").await;
        let resp = post_form(
            &client,
            self,
            "/auth/demo",
            &[("csrf", csrf_in(&html).as_str()), ("email", email)],
        )
        .await;
        assert_eq!(resp.status(), 303, "demo sign-in as {email} redirects");
        client
    }

    /// Signs this app's own client in as `email`.
    pub async fn sign_in(&mut self, email: &str) {
        self.client = self.client_as(email).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        send_get(&self.client, self, path).await
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self.get(path).await;
        let status = resp.status().as_u16();
        let body = resp.json().await.expect("response body is JSON");
        (status, body)
    }
}

pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The real OSRM the test command starts (`scripts/test.sh`).
pub fn osrm_url() -> String {
    std::env::var("TERRANE_TEST_OSRM_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned())
}

/// A loopback URL where nothing listens (the port was bound, then released).
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    format!("http://{addr}")
}

/// Starts the app on `pool` with extra environment-style settings.
pub async fn spawn_app_with(pool: PgPool, settings: &[(&str, &str)]) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    spawn_app_on(listener, pool, settings).await
}

/// Starts the app on an already bound listener (when a peer must know its URL first).
pub async fn spawn_app_on(
    listener: TcpListener,
    pool: PgPool,
    settings: &[(&str, &str)],
) -> TestApp {
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("TERRANE_OSRM_URL".into(), osrm_url());
    env.insert("TERRANE_DEMO".into(), "1".into());
    env.insert("TERRANE_SECRET_KEY".into(), TEST_SECRET_KEY.into());
    env.insert(
        "TERRANE_PUBLIC_URL".into(),
        format!("http://{}", listener.local_addr().expect("local addr")),
    );
    env.insert(
        "TERRANE_STATIC_DIR".into(),
        repo_path("static").display().to_string(),
    );
    env.insert(
        "TERRANE_VENDOR_DIR".into(),
        repo_path("web/node_modules").display().to_string(),
    );
    for (k, v) in settings {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test configuration is valid");
    let state = AppState::new(config, pool).expect("app state");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(terrane::web::serve(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        client: cookie_client(),
        state,
        _stop: stop,
    }
}

pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, &[]).await
}

/// The committed demo dataset, parsed once per test binary.
pub fn demo_dataset() -> &'static DemoDataset {
    static DS: OnceLock<DemoDataset> = OnceLock::new();
    DS.get_or_init(|| {
        terrane::seed::load::read_dataset(&repo_path("seed-data/demo-crm.json"))
            .expect("seed-data/demo-crm.json parses")
    })
}

/// Loads the demo dataset into `pool`'s database.
pub async fn seed_demo(pool: &PgPool) {
    terrane::seed::load::load(pool, demo_dataset())
        .await
        .expect("demo data loads");
}

/// How many audit entries with this action exist.
pub async fn audit_count(pool: &PgPool, action: &str) -> i64 {
    scalar_by(
        pool,
        "select count(*) from audit_log where action = $1",
        action,
    )
    .await
}

/// The HTML of `path` as `client` sees it.
pub async fn page_html(client: &reqwest::Client, app: &TestApp, path: &str) -> String {
    send_get(client, app, path)
        .await
        .text()
        .await
        .expect("html")
}

/// The response to `request`, which must reach the test server.
pub async fn sent(request: reqwest::RequestBuilder) -> reqwest::Response {
    request
        .send()
        .await
        .expect("request reaches the test server")
}

/// What `client` gets for `GET path`.
pub async fn send_get(client: &reqwest::Client, app: &TestApp, path: &str) -> reqwest::Response {
    sent(client.get(app.url(path))).await
}

/// The JSON body `client` gets for `GET path`.
pub async fn json_of<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
) -> T {
    let resp = send_get(client, app, path).await;
    resp.json().await.expect("response body is JSON")
}

/// What `client` gets for `POST path` without a body.
pub async fn send_post(client: &reqwest::Client, app: &TestApp, path: &str) -> reqwest::Response {
    sent(client.post(app.url(path))).await
}

/// What `client` gets for `POST path` with `form` as the form body.
pub async fn post_form(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    sent(client.post(app.url(path)).form(form)).await
}

/// The one value the query `sql` selects.
pub async fn scalar<T>(pool: &PgPool, sql: &str) -> T
where
    (T,): for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    T: Send + Unpin,
{
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

/// The one value the query `sql` selects with `bind` as `$1`.
pub async fn scalar_by<'q, T, B>(pool: &PgPool, sql: &'q str, bind: B) -> T
where
    (T,): for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    T: Send + Unpin,
    B: 'q + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
{
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(pool)
        .await
        .expect(sql)
}

/// How many rows `from_where` (`table where ...`) counts.
pub async fn count(pool: &PgPool, from_where: &str) -> i64 {
    scalar(pool, &format!("select count(*) from {from_where}")).await
}

/// The id of the user with this e-mail address.
pub async fn user_id(pool: &PgPool, email: &str) -> uuid::Uuid {
    scalar_by(pool, "select id from users where email = $1", email).await
}

/// The status `client` gets for `url`.
pub async fn status_of(client: &reqwest::Client, url: String) -> u16 {
    sent(client.get(url)).await.status().as_u16()
}

/// The team a territory belongs to (for service calls that take the acting team).
pub async fn team_of_territory(pool: &PgPool, territory: uuid::Uuid) -> uuid::Uuid {
    terrane::territory::teams::team_of_territory(pool, territory)
        .await
        .expect("query")
        .expect("the territory has a team")
}

/// The job queue over `pool` (heavy work on the same pool), with `osrm`, for tests that drain
/// it step by step: one plan slot, three attempts, no wait between them.
pub fn test_jobs(pool: &PgPool, osrm: Option<terrane::routing::OsrmClient>) -> terrane::jobs::Jobs {
    let crm = terrane::crm::clients::CrmClients::new(
        pool.clone(),
        None,
        std::time::Duration::from_secs(5),
    )
    .expect("CRM clients");
    terrane::jobs::Jobs::new(
        pool.clone(),
        pool.clone(),
        osrm,
        std::sync::Arc::new(crm),
        terrane::crm::apply::ClockGuard::new(std::time::Duration::from_secs(
            terrane::config::defaults::CRM_CLOCK_SKEW_S,
        )),
        test_job_settings(),
    )
}

/// Queues a rebalance of `plan` on `queue` and runs the plan lane until it is idle.
pub async fn rebalanced(
    queue: &terrane::jobs::Jobs,
    plan: uuid::Uuid,
) -> Vec<terrane::jobs::Outcome> {
    queue
        .start_rebalance(plan, None, None)
        .await
        .expect("rebalance queued");
    queue
        .drain(terrane::jobs::Lane::Plans)
        .await
        .expect("plan lane drained")
}

/// The stored plan `id` (it must exist).
pub async fn stored_plan(pool: &PgPool, id: uuid::Uuid) -> terrane::territory::plans::PlanRow {
    terrane::territory::plans::get(pool, id)
        .await
        .expect("plan")
        .expect("exists")
}

/// Job settings of [`test_jobs`].
pub fn test_job_settings() -> terrane::config::JobsConfig {
    terrane::config::JobsConfig {
        plan_jobs: 1,
        db_connections: 2,
        lease: std::time::Duration::from_secs(60),
        max_attempts: 3,
        retry_delay: std::time::Duration::ZERO,
    }
}

/// The URL of the per-test database behind `pool` (for the `terrane` binary).
pub async fn database_url_of(pool: &PgPool) -> String {
    let name: String = scalar(pool, "select current_database()").await;
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for tests");
    let mut url = reqwest::Url::parse(&base).expect("DATABASE_URL parses");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// The id of the team named `name`.
pub async fn team_id(pool: &PgPool, name: &str) -> uuid::Uuid {
    scalar_by(pool, "select id from teams where name = $1", name).await
}

/// One reconciliation of `conn` as a test starts it: the default clock guard, no progress.
pub async fn reconcile_now(
    pool: &PgPool,
    app: &TestApp,
    conn: &terrane::crm::connection::Connection,
) -> Result<terrane::crm::reconcile::Report, terrane::crm::reconcile::ReconcileError> {
    terrane::crm::reconcile::run(
        pool,
        &app.state.crm,
        conn,
        terrane::crm::reconcile::Trigger::Test,
        terrane::crm::apply::ClockGuard::default(),
        &|_, _| {},
    )
    .await
}

/// The CRM connection named `name` (it must exist).
pub async fn connection_named(pool: &PgPool, name: &str) -> terrane::crm::connection::Connection {
    terrane::crm::connection::by_name(pool, name)
        .await
        .expect("db")
        .expect("row")
}

/// A `terrane serve` on the test database, killed when dropped.
pub struct Server {
    child: std::process::Child,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
}

impl Server {
    pub fn start(database_url: &str) -> Self {
        Self::start_with(database_url, &[], None)
    }

    /// With extra settings, and its output (stdout and stderr) appended to `log`.
    pub fn start_with(database_url: &str, env: &[(&str, &str)], log: Option<&Path>) -> Self {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr");
        let output = |log: Option<&Path>| {
            log.map_or_else(std::process::Stdio::null, |path| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("log file")
                    .into()
            })
        };
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_terrane"))
            .arg("serve")
            .current_dir(repo_path(""))
            .env("DATABASE_URL", database_url)
            .env("TERRANE_BIND", addr.to_string())
            .env("TERRANE_OSRM_URL", dead_url())
            .env("TERRANE_RECONCILE_AT", "off")
            .env("TERRANE_PLAN_JOBS", "1")
            .env("TERRANE_JOB_LEASE_S", "2")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(output(log))
            .stderr(output(log))
            .spawn()
            .expect("spawn terrane serve");
        Self { child, addr }
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits i32"));
        nix::sys::signal::kill(pid, signal).expect("signal");
    }

    pub async fn exited(&mut self) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not stop"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Waits (bounded) until it answers `/healthz`.
    pub async fn ready(&self) {
        let url = format!("http://{}/healthz", self.addr);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while reqwest::get(&url).await.map(|r| r.status().as_u16()).ok() != Some(200) {
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not come up"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
