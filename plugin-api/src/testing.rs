//! A fake host, for testing a provider in-process (feature `testing`):
//! canned HTTP answers, a clock you set and advance, and the log lines and
//! requests the plugin produced. No network, no runtime needed.
//!
//! ```
//! use authhost_plugin_api::{testing::FakeHost, AuthContext, AuthOutcome};
//! # use authhost_plugin_api::{AuthProvider, CreateContext, Error, HttpRequest, Credential, Host, Secret};
//! # #[derive(serde::Deserialize, schemars::JsonSchema)]
//! # struct Config { url: String }
//! # struct Session { url: String, host: Host }
//! # impl AuthProvider for Session {
//! #     const NAME: &'static str = "session";
//! #     const DESCRIPTION: &'static str = "test";
//! #     type Config = Config;
//! #     fn example_config() -> serde_json::Value { serde_json::json!({"url": "https://api.example/session"}) }
//! #     fn create(config: Config, ctx: &CreateContext) -> Result<Self, Error> {
//! #         Ok(Self { url: config.url, host: ctx.host.clone().ok_or_else(|| Error::internal("no host"))? })
//! #     }
//! #     async fn authenticate(&self, _: AuthContext) -> Result<AuthOutcome, Error> {
//! #         let answer = self.host.http(HttpRequest::new("POST", &self.url)).await?;
//! #         let token = String::from_utf8_lossy(&answer.body).into_owned();
//! #         Ok(AuthOutcome::Credentials { credentials: vec![Credential::bearer(Secret::new(token))], expires_at: None })
//! #     }
//! # }
//! let host = FakeHost::new();
//! host.respond("POST", "https://api.example/session", 200, "s3ss10n");
//! let provider: Session = host
//!     .create(serde_json::json!({"url": "https://api.example/session"}))
//!     .expect("created");
//! let outcome = host.block_on(provider.authenticate(AuthContext::for_user("alice")));
//! assert!(matches!(outcome, Ok(AuthOutcome::Credentials { .. })));
//! assert_eq!(host.requests()[0].url, "https://api.example/session");
//! ```

use std::{
    collections::VecDeque,
    future::Future,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RArc, ROption, RResult, RStr, RString, RVec},
};
use async_ffi::{FfiFuture, FutureExt};

use crate::{
    abi::{self, HostServices_TO, LogLevel, PluginError},
    AuthProvider, Authenticator, CreateContext, Error, Host,
};

/// A request the plugin sent, secrets exposed (it is a test).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ….
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A canned answer.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

#[derive(Debug)]
struct Route {
    method: String,
    url: String,
    /// Answers in order; the last one repeats.
    answers: VecDeque<Answer>,
}

#[derive(Debug, Default)]
struct State {
    routes: Mutex<Vec<Route>>,
    requests: Mutex<Vec<RecordedRequest>>,
    logs: Mutex<Vec<(LogLevel, String, String)>>,
    now_ms: AtomicI64,
}

/// The fake host. Clones share their state.
#[derive(Debug, Clone)]
pub struct FakeHost {
    state: Arc<State>,
}

/// 2026-01-01T00:00:00Z: where the fake clock starts.
const START_MS: i64 = 1_767_225_600_000;

impl Default for FakeHost {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeHost {
    /// A host with no answers, its clock at 2026-01-01T00:00:00Z.
    pub fn new() -> Self {
        let state = State::default();
        state.now_ms.store(START_MS, Ordering::SeqCst);
        Self {
            state: Arc::new(state),
        }
    }

    /// Answers `method url` (the query string is ignored when matching) with
    /// `status` and `body`. Several answers for one route are given in turn;
    /// the last one repeats. A request nobody answers gets a 404 whose body
    /// says so.
    pub fn respond(&self, method: &str, url: &str, status: u16, body: impl Into<Vec<u8>>) {
        self.push(
            method,
            url,
            Answer {
                status,
                content_type: "text/plain",
                body: body.into(),
            },
        );
    }

    /// [`respond`](Self::respond) with a JSON body (`application/json`).
    pub fn respond_json(&self, method: &str, url: &str, status: u16, body: serde_json::Value) {
        self.push(
            method,
            url,
            Answer {
                status,
                content_type: "application/json",
                body: body.to_string().into_bytes(),
            },
        );
    }

    fn push(&self, method: &str, url: &str, answer: Answer) {
        let mut routes = lock(&self.state.routes);
        match routes
            .iter_mut()
            .find(|r| r.method.eq_ignore_ascii_case(method) && r.url == url)
        {
            Some(route) => route.answers.push_back(answer),
            None => routes.push(Route {
                method: method.to_owned(),
                url: url.to_owned(),
                answers: VecDeque::from([answer]),
            }),
        }
    }

    /// Every request sent so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// Every log line so far (the plugin's `tracing` events while
    /// [`block_on`](Self::block_on) runs), as `Level target: message`.
    pub fn logs(&self) -> Vec<String> {
        lock(&self.state.logs)
            .iter()
            .map(|(level, target, message)| format!("{level:?} {target}: {message}"))
            .collect()
    }

    /// The fake clock.
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH
            + Duration::from_millis(
                u64::try_from(self.state.now_ms.load(Ordering::SeqCst)).unwrap_or(0),
            )
    }

    /// Moves the clock forward (also what `Host::sleep` does).
    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.state.now_ms.fetch_add(millis, Ordering::SeqCst);
    }

    /// The [`Host`] a plugin sees.
    pub fn host(&self) -> Host {
        Host::from_services(HostServices_TO::from_ptr(
            RArc::new(self.clone()),
            TD_Opaque,
        ))
    }

    /// Creates a provider from a JSON configuration, exactly as the host
    /// would (the configuration parsed and checked the same way), with this
    /// fake as its host and `test` as its instance name.
    ///
    /// # Errors
    ///
    /// The configuration does not parse, or the provider refuses it.
    pub fn create<P: AuthProvider>(&self, config: serde_json::Value) -> Result<P, Error> {
        let config: P::Config = crate::parse_config(&config.to_string())?;
        P::create(config, &self.create_context())
    }

    /// [`create`](Self::create) for an [`Authenticator`].
    ///
    /// # Errors
    ///
    /// The configuration does not parse, or the authenticator refuses it.
    pub fn create_authenticator<A: Authenticator>(
        &self,
        config: serde_json::Value,
    ) -> Result<A, Error> {
        let config: A::Config = crate::parse_config(&config.to_string())?;
        A::create(config, &self.create_context())
    }

    fn create_context(&self) -> CreateContext {
        CreateContext {
            instance_name: "test".to_owned(),
            host: Some(self.host()),
        }
    }

    /// Runs a future to completion on the current thread (the fake's HTTP
    /// answers and sleeps complete at once, so no runtime is needed).
    /// The plugin's `tracing` events on this thread meanwhile go to
    /// [`logs`](Self::logs).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _logs = crate::log_bridge::scoped(&self.host());
        futures_executor::block_on(future)
    }

    fn answer(&self, method: &str, url: &str) -> Answer {
        let path = url.split('?').next().unwrap_or(url);
        let mut routes = lock(&self.state.routes);
        let Some(route) = routes
            .iter_mut()
            .find(|r| r.method.eq_ignore_ascii_case(method) && r.url == path)
        else {
            return Answer {
                status: 404,
                content_type: "text/plain",
                body: format!("the fake host has no answer for {method} {path}").into_bytes(),
            };
        };
        if route.answers.len() > 1 {
            route.answers.pop_front().unwrap_or_else(|| unreachable!())
        } else {
            route.answers[0].clone()
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl abi::HostServices for FakeHost {
    fn http(
        &self,
        request: abi::HttpRequest,
    ) -> FfiFuture<RResult<abi::HttpResponse, PluginError>> {
        let method = request.method.to_string();
        let url = request.url.to_string();
        lock(&self.state.requests).push(RecordedRequest {
            method: method.clone(),
            url: url.clone(),
            headers: request
                .headers
                .iter()
                .map(|h| (h.name.to_string(), h.value.expose().to_owned()))
                .collect(),
            body: request.body.to_vec(),
        });
        let answer = self.answer(&method, &url);
        let response = abi::HttpResponse {
            status: answer.status,
            headers: RVec::from(vec![abi::HttpHeader {
                name: RString::from("content-type"),
                value: abi::RSecret::new(answer.content_type),
            }]),
            body: RVec::from(answer.body),
        };
        async move { RResult::ROk(response) }.into_ffi()
    }

    fn log(&self, level: LogLevel, target: RStr<'_>, message: RStr<'_>) {
        lock(&self.state.logs).push((level, target.to_string(), message.to_string()));
    }

    fn max_log_level(&self) -> ROption<LogLevel> {
        ROption::RSome(LogLevel::Trace)
    }

    fn now_unix_ms(&self) -> i64 {
        self.state.now_ms.load(Ordering::SeqCst)
    }

    fn sleep(&self, millis: u64) -> FfiFuture<()> {
        self.advance(Duration::from_millis(millis));
        async {}.into_ffi()
    }

    fn spawn(&self, task: FfiFuture<()>) {
        // Background work runs to completion at once: deterministic tests.
        futures_executor::block_on(task);
    }
}
