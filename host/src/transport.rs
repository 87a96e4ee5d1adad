//! Serving a router over TCP so that slow or piled-up clients cannot exhaust the server.
//!
//! `axum::serve` keeps every connection as long as the client likes: thousands that send
//! half a header use up the file descriptors, and one of them holds shutdown open forever.
//! Here every accepted connection is entered in one [`Connections`] table shared by both
//! listeners, which caps how many are open (in all and per client address) by closing the
//! oldest idle one to make room, and each connection has a watchdog that closes it when its
//! client is too slow to send a request's headers or leaves it idle too long. Request
//! bodies have a deadline too, and shutdown waits only so long for requests in flight.
//!
//! The watchdog is ours rather than hyper's `header_read_timeout`: hyper's also runs while a
//! kept-alive connection waits for its next request, so it cannot keep the header and idle
//! limits apart. HTTP/1 only, as before.

use crate::config::ConnectionConfig;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::header::CONNECTION;
use axum::http::{HeaderValue, Request};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The limits of [`ConnectionConfig`], as durations.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_read_timeout: Duration,
    pub max_connections: usize,
    pub max_per_address: usize,
    pub shutdown_timeout: Duration,
}

impl From<&ConnectionConfig> for Limits {
    fn from(c: &ConnectionConfig) -> Self {
        Self {
            header_read_timeout: Duration::from_millis(c.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(c.idle_timeout_ms),
            body_read_timeout: Duration::from_millis(c.body_read_timeout_ms),
            max_connections: c.max_connections.get(),
            max_per_address: c.max_connections_per_address.get(),
            shutdown_timeout: Duration::from_millis(c.shutdown_timeout_ms),
        }
    }
}

impl Limits {
    /// How often a connection's watchdog looks: a fraction of the shortest timeout, so a
    /// connection outlives its limit by at most a quarter of it.
    fn check_every(&self) -> Duration {
        (self.header_read_timeout.min(self.idle_timeout) / 4)
            .clamp(Duration::from_millis(20), Duration::from_secs(1))
    }
}

/// The open connections of every listener.
pub struct Connections {
    limits: Limits,
    epoch: Instant,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    /// By id, that is in the order they were accepted: the first idle one is the oldest.
    open: BTreeMap<u64, Open>,
    per_address: HashMap<IpAddr, usize>,
}

struct Open {
    address: IpAddr,
    activity: Arc<Activity>,
    /// Cancelled to close the connection when it is shed.
    close: CancellationToken,
}

impl Connections {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            epoch: Instant::now(),
            table: Mutex::new(Table::default()),
        })
    }

    /// Milliseconds since the table was made: connection times fit in an atomic.
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Makes room for a connection from `address`, closing the oldest idle connection (of
    /// that address, then of any) where a cap is reached; `None` when there is no room.
    fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Admission> {
        // NB: a std mutex: the critical section never awaits and is short.
        let mut table = self.table.lock().expect("connection table lock");
        let from_address = table.per_address.get(&address).copied().unwrap_or(0);
        if from_address >= self.limits.max_per_address
            && !table.shed_oldest_idle(|open| open.address == address)
        {
            return None;
        }
        if table.open.len() >= self.limits.max_connections && !table.shed_oldest_idle(|_| true) {
            return None;
        }
        let id = table.next_id;
        table.next_id += 1;
        let activity = Arc::new(Activity::new(self.clone()));
        let close = CancellationToken::new();
        table.open.insert(
            id,
            Open {
                address,
                activity: activity.clone(),
                close: close.clone(),
            },
        );
        *table.per_address.entry(address).or_default() += 1;
        Some(Admission {
            id,
            activity,
            close,
        })
    }
}

impl Table {
    fn shed_oldest_idle(&mut self, which: impl Fn(&Open) -> bool) -> bool {
        let oldest = self
            .open
            .iter()
            .find(|(_, open)| open.activity.idle() && which(open))
            .map(|(id, _)| *id);
        match oldest.and_then(|id| self.remove(id)) {
            Some(shed) => {
                tracing::debug!(address = %shed.address, "closing the oldest idle connection to make room");
                shed.close.cancel();
                true
            }
            None => false,
        }
    }

    fn remove(&mut self, id: u64) -> Option<Open> {
        let open = self.open.remove(&id)?;
        if let Some(count) = self.per_address.get_mut(&open.address) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&open.address);
            }
        }
        Some(open)
    }
}

/// A connection's place in the table, given up when the connection ends.
struct Admission {
    id: u64,
    activity: Arc<Activity>,
    close: CancellationToken,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let connections = &self.activity.connections;
        let mut table = connections.table.lock().expect("connection table lock");
        table.remove(self.id);
    }
}

/// Marks a time as not yet happened in [`Activity`]'s atomics.
const NEVER: u64 = u64::MAX;

/// What a connection's watchdog needs to know, updated by its I/O and its requests.
struct Activity {
    connections: Arc<Connections>,
    /// Requests whose response has not been sent completely.
    in_flight: AtomicUsize,
    /// When the connection last had nothing in flight (accepted, or a response ended).
    idle_since: AtomicU64,
    /// When the first byte of the next request arrived (`NEVER`: none yet).
    head_since: AtomicU64,
    /// Whether any request has been served: before the first, waiting counts as reading
    /// headers (a client opens a connection to send one).
    served: AtomicBool,
}

impl Activity {
    fn new(connections: Arc<Connections>) -> Self {
        let now = connections.now();
        Self {
            connections,
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(now),
            head_since: AtomicU64::new(NEVER),
            served: AtomicBool::new(false),
        }
    }

    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// Bytes arrived: while idle, they are the start of a request's headers.
    fn on_read(&self) {
        if self.idle() && self.head_since.load(Ordering::Relaxed) == NEVER {
            let now = self.connections.now();
            self.head_since.store(now, Ordering::Relaxed);
        }
    }

    /// Why the connection should be closed now, if it should.
    fn expired(&self) -> Option<&'static str> {
        if !self.idle() {
            return None;
        }
        let limits = &self.connections.limits;
        let now = self.connections.now();
        let waited = |since: u64| Duration::from_millis(now.saturating_sub(since));
        let head_since = self.head_since.load(Ordering::Relaxed);
        if head_since != NEVER {
            return (waited(head_since) >= limits.header_read_timeout)
                .then_some("request headers not received in time");
        }
        let idle_since = waited(self.idle_since.load(Ordering::Relaxed));
        if self.served.load(Ordering::Relaxed) {
            (idle_since >= limits.idle_timeout).then_some("idle")
        } else {
            (idle_since >= limits.header_read_timeout).then_some("no request sent in time")
        }
    }
}

/// A request in flight on a connection, from its headers to the end of its response body.
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.head_since.store(NEVER, Ordering::Relaxed);
        activity.served.store(true, Ordering::Relaxed);
        Busy(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        // NB: the idle time first, so the watchdog never sees idle with a stale one.
        let now = self.0.connections.now();
        self.0.idle_since.store(now, Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves `router` on `listener` until `shutdown`, then gives requests in flight up to the
/// shutdown timeout before closing their connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    connections: Arc<Connections>,
    shutdown: CancellationToken,
) {
    let limits = connections.limits;
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match connections.admit(peer.ip()) {
                    Some(admission) => {
                        tasks.spawn(serve_connection(
                            stream,
                            peer,
                            router.clone(),
                            admission,
                            shutdown.clone(),
                        ));
                    }
                    None => tracing::debug!(%peer, "connection refused: no room"),
                },
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was accepted: the
                    // caps make room as connections end; do not spin meanwhile.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = tasks.join_next() => {}
            _ = shutdown.cancelled() => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "closing connections whose requests outlived the shutdown timeout"
        );
        tasks.shutdown().await;
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    admission: Admission,
    shutdown: CancellationToken,
) {
    let activity = admission.activity.clone();
    let limits = activity.connections.limits;
    let service = tower::service_fn(move |request: Request<Incoming>| {
        let busy = Busy::start(&activity);
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(ConnectInfo(peer));
        let body = Deadline::new(body, limits.body_read_timeout);
        let body_read = body.read.clone();
        let call = router
            .clone()
            .oneshot(Request::from_parts(parts, Body::new(body)));
        async move {
            let mut response = call.await?;
            // NB: a request answered before its body was read (refused by the rate limit,
            // an unknown key) leaves hyper the rest to read: it does not, it closes the
            // connection after the response. Unless the response says so, the client keeps
            // the connection for its next request and sends it into a closing socket.
            if !body_read.load(Ordering::Acquire) {
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, Infallible>(response.map(|body| Body::new(Held { body, _busy: busy })))
        }
    });
    let io = TokioIo::new(Watched {
        stream,
        activity: admission.activity.clone(),
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, TowerToHyperService::new(service));
    tokio::pin!(connection);
    let mut check = tokio::time::interval(limits.check_every());
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = admission.close.cancelled() => return,
            _ = shutdown.cancelled(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = check.tick() => {
                // Stopping, a connection with nothing in flight has nothing to finish (a
                // half-sent header included); otherwise the watchdog's limits apply.
                if stopping && admission.activity.idle() {
                    return;
                }
                if let Some(why) = admission.activity.expired() {
                    tracing::debug!(%peer, why, "closing connection");
                    return;
                }
            }
        }
    }
}

/// The TCP stream, telling the watchdog when bytes arrive.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.on_read();
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// A request body that fails once its deadline has passed, so a client dripping a body
/// byte by byte cannot hold a request (and its connection) open.
struct Deadline {
    body: Incoming,
    limit: Duration,
    /// Started on the first wait for data: bodiless requests never make a timer.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    started: Instant,
    /// Whether the body has been read to its end (a bodiless request's at once), read by
    /// the connection when the response is ready.
    read: Arc<AtomicBool>,
}

impl Deadline {
    fn new(body: Incoming, limit: Duration) -> Self {
        let read = Arc::new(AtomicBool::new(http_body::Body::is_end_stream(&body)));
        Self {
            body,
            limit,
            timer: None,
            started: Instant::now(),
            read,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body was not received within {0:?}")]
struct BodyTimedOut(Duration);

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            if frame.is_none() || this.body.is_end_stream() {
                this.read.store(true, Ordering::Release);
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = tokio::time::Instant::from_std(this.started + this.limit);
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimedOut(this.limit).into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A response body that keeps its request counted as in flight until it has been sent
/// (a stream of events is not an idle connection).
struct Held {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
