//! Assembling and running agentx: store, domain, both listeners, background tasks, and an
//! orderly shutdown.

use crate::auth::Tokens;
use crate::auth::{AdminKey, SessionTokens};
use crate::clock::Clock;
use crate::config::Config;
use crate::hosted::HostedAgents;
use crate::http::{self, AppState, RateLimit};
use crate::network::webhook_url::WebhookRules;
use crate::network::{Network, NetworkSettings};
use crate::notify::{LocalNotifier, Notifier};
use crate::plugins::policy::WasmPolicy;
use crate::plugins::runtime::AgentGrant;
use crate::plugins::{HostServices, Owner, PluginError, PluginRuntime, PluginSource};
use crate::reload::Reloader;
use crate::runner::Runners;
use crate::store::RedbStore;
use crate::store::{Lease, Store, StoreError};
use crate::store::{PgNotifier, PgStore};
use crate::tasks::Tasks;
use crate::tasks::a2a::A2aTasks;
use crate::tasks::public::{PublicAgents, RemoteDaemon};
use crate::transport::{self, Connections};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How often last-seen times are written to the store.
const PRESENCE_FLUSH_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot start the network: {0}")]
    Network(#[from] crate::error::Error),
    #[error("cannot load plugins: {0}")]
    Plugins(#[from] PluginError),
    #[error(transparent)]
    Webhooks(#[from] crate::webhooks::StartError),
    #[error("cannot build the plugins' HTTP client: {0}")]
    PluginHttp(#[from] reqwest::Error),
    #[error(transparent)]
    Watch(#[from] crate::reload::WatchError),
}

/// A server that is up: its listeners' addresses and the handle to stop it.
pub struct Running {
    pub public_addr: SocketAddr,
    /// The daemon listener (in split mode's public role, the remote daemon's address).
    pub daemon_addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    /// This node's lease as the runner of its A2A tasks (none in split mode's public
    /// role, which runs none): held until [`Running::stop`] has waited for the requests in
    /// flight, so no other node takes a task still being finished for abandoned.
    runner_lease: Option<Lease>,
}

/// Secrets from the environment, resolved by the caller so the library reads no env vars.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// `AGENTX_JWT_SECRET`; without it a secret is generated once and kept in the store.
    pub jwt_secret: Option<String>,
    /// `AGENTX_ADMIN_KEY`; overrides the config's admin key.
    pub admin_key: Option<String>,
}

/// The shared database when one is configured, else the embedded store; with the notifier
/// that carries its wake-ups (across nodes for the shared one).
async fn open_store(
    server: &crate::config::ServerConfig,
) -> Result<(Arc<dyn Store>, Arc<dyn Notifier>), StoreError> {
    match &server.database_url {
        Some(url) => {
            let notifier: Arc<dyn Notifier> = PgNotifier::start(url)?;
            let store = PgStore::open(url, notifier.clone()).await?;
            Ok((Arc::new(store), notifier))
        }
        None => {
            let notifier: Arc<dyn Notifier> = Arc::new(LocalNotifier::default());
            let store = RedbStore::open(&server.data_dir, notifier.clone())?;
            Ok((Arc::new(store), notifier))
        }
    }
}

/// Opens the store, binds both listeners and starts serving. Returns once `/health`
/// answers on both.
pub async fn start(
    config: Config,
    secrets: Secrets,
    clock: Arc<dyn Clock>,
) -> Result<Running, StartError> {
    // Before anything is counted: what is recorded without a recorder is lost.
    http::install_metrics();
    let server = &config.server;
    let (store, notifier) = open_store(server).await?;
    let settings = NetworkSettings {
        webhooks: WebhookRules {
            allow_http: server.webhooks.allow_http,
            allow_private: server.webhooks.allow_private,
        },
        ..NetworkSettings::default()
    };
    let runtime = Arc::new(PluginRuntime::new(
        server
            .plugin_cache_dir
            .clone()
            .unwrap_or_else(|| server.data_dir.join("plugin-cache")),
        HostServices {
            store: store.clone(),
            clock: clock.clone(),
            // Plugins reach private addresses only by listing them (see plugins' http).
            http: crate::outbound::client_builder(true).build()?,
            turns_in_flight: Arc::default(),
        },
        server.plugin_health.policy(),
    )?);
    let policy_source = match &config.policy {
        Some(path) => PluginSource::read(path).map_err(PluginError::load)?,
        None => PluginSource::builtin_contracts(),
    };
    let (default_policy, presets) = runtime
        .load_policy(Owner::Network, policy_source, &AgentGrant::default())
        .await?;
    let hosted = Arc::new(HostedAgents::load(&config, &runtime).await?);
    let policy = WasmPolicy::new(runtime.clone(), default_policy, presets, hosted.clone());
    let delivery = delivery_settings(&server.webhooks, &settings);
    let (delivery_store, delivery_notifier, delivery_clock) =
        (store.clone(), notifier.clone(), clock.clone());
    let network = Network::new(
        store.clone(),
        notifier,
        clock.clone(),
        Arc::new(policy),
        settings,
    )
    .await?;
    hosted.register(&network).await?;
    let tokens = Arc::new(Tokens::new(store.clone(), clock.clone()));
    let tasks = Arc::new(Tasks::new(
        hosted.clone(),
        runtime.clone(),
        store.clone(),
        clock,
    ));
    let jwt_secret = match secrets.jwt_secret.filter(|s| !s.is_empty()) {
        Some(secret) => secret.into_bytes(),
        None => store.secret("jwt_secret").await?,
    };

    let public = bind(SocketAddr::new(server.bind, server.port)).await?;
    // The daemon listener controls the server; it never leaves the machine.
    let daemon = bind(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        server.daemon_port,
    ))
    .await?;
    let public_addr = public.local_addr().expect("bound socket has an address");
    let shutdown = CancellationToken::new();
    let runners = Arc::new(Runners::new(
        hosted.clone(),
        network.clone(),
        tasks.clone(),
        shutdown.clone(),
    ));
    let deliveries = crate::webhooks::delivery_loop(
        delivery_store,
        delivery_notifier,
        delivery_clock,
        delivery,
        shutdown.clone(),
    )?;
    let reloader = Arc::new(Reloader::new(
        config.source.clone(),
        hosted.clone(),
        runtime.clone(),
        network.clone(),
        runners.clone(),
    ));
    let watcher = server
        .watch
        .then(|| crate::reload::watch(reloader.clone(), shutdown.clone()))
        .transpose()?;
    let public_agents = Arc::new(PublicAgents::new(
        tokens.clone(),
        hosted.clone(),
        tasks.clone(),
    ));
    let a2a = Arc::new(A2aTasks::new(
        public_agents.clone(),
        network.store().clone(),
        network.clock().clone(),
    ));
    // Should the lease be lost (its database connection failed), another node may fail
    // this one's working tasks; their ends, when they come, are recorded anyway.
    let runner_lease = a2a.start_running(CancellationToken::new()).await?;
    let state = AppState {
        network: network.clone(),
        sessions: Arc::new(SessionTokens::new(&jwt_secret)),
        admin: Arc::new(AdminKey::new(
            secrets.admin_key.or(server.admin_key.clone()),
        )),
        public_url: server.public_url.clone().map(Into::into),
        listener_url: server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{public_addr}"))
            .into(),
        body_limit: server.body_limit_bytes,
        shutdown: shutdown.clone(),
        hosted: hosted.clone(),
        tokens: tokens.clone(),
        tasks: tasks.clone(),
        public_agents,
        a2a: a2a.clone(),
        reloader,
    };
    let rate = rate_limit(server);
    let connections = Connections::new((&server.connections).into());

    // On a store only this process opens, no other runner can die while it lives (see
    // `A2aTasks::sweep`).
    let sweeps = runner_lease.is_shared();
    let mut running = Running {
        public_addr,
        daemon_addr: daemon.local_addr().expect("bound socket has an address"),
        shutdown: shutdown.clone(),
        tasks: JoinSet::new(),
        runner_lease: Some(runner_lease),
    };
    if sweeps {
        running.tasks.spawn(a2a.sweep(shutdown.clone()));
    }
    running.tasks.spawn(transport::serve(
        public,
        http::public_router(state.clone(), rate),
        connections.clone(),
        shutdown.clone(),
    ));
    running.tasks.spawn(transport::serve(
        daemon,
        http::daemon_router(state),
        connections,
        shutdown.clone(),
    ));
    runners.sync();
    let stopping = shutdown.clone();
    running.tasks.spawn(async move {
        stopping.cancelled().await;
        runners.join().await;
    });
    running.tasks.spawn(deliveries);
    if let Some(watcher) = watcher {
        running.tasks.spawn(watcher);
    }
    running.tasks.spawn(flush_presence(network, shutdown));
    tracing::info!(public = %running.public_addr, daemon = %running.daemon_addr, "agentx is serving");
    Ok(running)
}

/// Starts split mode's public listener (`agentx serve --role public`): public-agent calls
/// and task streams on `--bind:--port`, each forwarded to the daemon at `daemon_url`, which
/// runs the agents and holds the tokens. Nothing else is opened: no store, no plugins.
pub async fn start_public(config: &Config, daemon_url: url::Url) -> Result<Running, StartError> {
    let server = &config.server;
    let public = bind(SocketAddr::new(server.bind, server.port)).await?;
    let daemon_addr = daemon_url
        .socket_addrs(|| None)
        .ok()
        .and_then(|addrs| addrs.first().copied())
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let shutdown = CancellationToken::new();
    let state = http::SplitState {
        daemon: Arc::new(RemoteDaemon::new(daemon_url)),
        body_limit: server.body_limit_bytes,
        shutdown: shutdown.clone(),
    };
    let mut running = Running {
        public_addr: public.local_addr().expect("bound socket has an address"),
        daemon_addr,
        shutdown: shutdown.clone(),
        tasks: JoinSet::new(),
        runner_lease: None,
    };
    running.tasks.spawn(transport::serve(
        public,
        http::split_public_router(state, rate_limit(server)),
        Connections::new((&server.connections).into()),
        shutdown,
    ));
    tracing::info!(public = %running.public_addr, daemon = %running.daemon_addr, "agentx public listener is serving");
    Ok(running)
}

impl Running {
    /// Stops accepting, ends long-polls, waits for requests in flight, flushes last-seen
    /// times, and returns once the store is closed.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        while let Some(result) = self.tasks.join_next().await {
            if let Err(e) = result {
                tracing::error!(error = %e, "server task failed");
            }
        }
        // NB: only now, with every request finished (see `runner_lease`).
        drop(self.runner_lease);
        tracing::info!("agentx stopped");
    }
}

fn rate_limit(server: &crate::config::ServerConfig) -> RateLimit {
    RateLimit {
        per_second: server.rate_limit.per_second,
        burst: server.rate_limit.burst,
        failed_auth_per_minute: server.rate_limit.failed_auth_per_minute,
        registrations_per_hour: server.limits.registrations_per_hour,
        trusted_proxies: server.trusted_proxies.clone(),
    }
}

fn delivery_settings(
    config: &crate::config::WebhookConfig,
    network: &NetworkSettings,
) -> crate::webhooks::DeliverySettings {
    crate::webhooks::DeliverySettings {
        rules: network.webhooks.clone(),
        timeout: Duration::from_millis(config.timeout_ms),
        connect_timeout: Duration::from_millis(config.connect_timeout_ms),
        schedule: crate::webhooks::schedule::RetrySchedule {
            first_delay: Duration::from_millis(config.retry_first_delay_ms),
            max_delay: Duration::from_millis(config.retry_max_delay_ms),
            window: Duration::from_secs(config.retry_window_seconds),
        },
        max_in_flight: config.max_in_flight.max(1),
        max_in_flight_per_agent: config.max_in_flight_per_agent.max(1),
        max_in_flight_per_destination: config.max_in_flight_per_destination.max(1),
        breaker: crate::webhooks::breaker::BreakerSettings {
            failures: config.breaker_failures.max(1),
            cool_down: Duration::from_millis(config.breaker_cool_down_ms),
        },
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

async fn flush_presence(network: Network, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(PRESENCE_FLUSH_EVERY);
    loop {
        let stopping = tokio::select! {
            _ = every.tick() => false,
            _ = shutdown.cancelled() => true,
        };
        if let Err(e) = network.presence().flush().await {
            tracing::warn!(error = %e, "could not record last-seen times");
        }
        if stopping {
            return;
        }
    }
}
