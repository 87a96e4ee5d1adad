//! Middleware that looks at a request before its route and at the response after it, as a
//! tower layer whose future is the route's own beside a small ticket.
//!
//! `axum::middleware::from_fn` boxes its future, with a boxed clone of the route inside,
//! and each `Router::layer` boxes the route again: a waiting long-poll kept all of it for
//! as long as it waited. Here nothing is boxed and nothing is cloned per request; the
//! listeners stack their middleware in one `Router::layer` call (benches/README.md,
//! "Middleware without boxes").

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Response, StatusCode};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// One middleware: what it checks or notes before the route runs, in front of a service
/// whose responses have bodies of type `B` (a middleware that answers requests itself sits
/// where they are axum's [`Body`]).
pub trait Around<B = Body>: Clone {
    /// What `before` hands on to the response.
    type Ticket: Ticket;

    /// Lets the request through with a ticket, or answers it instead of the route.
    fn before(&self, request: &mut Request) -> Result<Self::Ticket, Response<B>>;
}

/// What a middleware does once the route has answered.
pub trait Ticket {
    fn after(self, status: StatusCode);
}

/// For middleware that only checks requests.
impl Ticket for () {
    fn after(self, _: StatusCode) {}
}

/// The layer of one [`Around`].
#[derive(Clone)]
pub struct AroundLayer<A>(pub A);

impl<A: Clone, S> tower::Layer<S> for AroundLayer<A> {
    type Service = AroundService<A, S>;

    fn layer(&self, inner: S) -> Self::Service {
        AroundService {
            around: self.0.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct AroundService<A, S> {
    around: A,
    inner: S,
}

impl<A, S, B> tower::Service<Request> for AroundService<A, S>
where
    A: Around<B>,
    S: tower::Service<Request, Response = Response<B>>,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = AroundFuture<S::Future, A::Ticket, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        match self.around.before(&mut request) {
            Ok(ticket) => AroundFuture::Routed {
                route: self.inner.call(request),
                ticket: Some(ticket),
            },
            Err(answer) => AroundFuture::Answered {
                answer: Some(answer),
            },
        }
    }
}

pin_project! {
    #[project = Projected]
    pub enum AroundFuture<F, T, B> {
        Answered { answer: Option<Response<B>> },
        Routed { #[pin] route: F, ticket: Option<T> },
    }
}

impl<F, T, B, E> Future for AroundFuture<F, T, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    T: Ticket,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projected::Answered { answer } => {
                Poll::Ready(Ok(answer.take().expect("polled after it answered")))
            }
            Projected::Routed { route, ticket } => {
                let response = ready!(route.poll(cx))?;
                if let Some(ticket) = ticket.take() {
                    ticket.after(response.status());
                }
                Poll::Ready(Ok(response))
            }
        }
    }
}
