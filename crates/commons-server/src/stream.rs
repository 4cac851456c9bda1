//! Streaming response bodies: NDJSON for Ollama, server-sent events for OpenAI, and the
//! [`Generation`] that feeds them.
//!
//! Cancellation rides on ownership: the body stream owns the [`Generation`], which owns the
//! engine's `GenerationStream` and the model lease. When a client disconnects, hyper drops
//! the body, the engine sees its receiver gone and frees the slot at the next step, and the
//! lease is returned so keep-alive starts counting.

use std::convert::Infallible;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use commons_engine::{Event, GenerationStream, ModelLease};
use futures_util::{Stream, StreamExt};
use serde_json::Value;

/// A running generation with the lease that keeps its model loaded.
pub struct Generation {
    stream: GenerationStream,
    pub lease: ModelLease,
    /// When the request arrived (for `total_duration`).
    pub started: Instant,
}

impl Generation {
    pub fn new(stream: GenerationStream, lease: ModelLease, started: Instant) -> Self {
        Self {
            stream,
            lease,
            started,
        }
    }

    /// The next engine event; `None` only if the worker vanished without a final event.
    pub async fn next(&mut self) -> Option<Event> {
        self.stream.recv().await
    }

    /// Nanoseconds since the request arrived.
    pub fn elapsed_ns(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// One JSON value per line (`application/x-ndjson`), as Ollama streams.
pub fn ndjson(values: impl Stream<Item = Value> + Send + 'static) -> Response {
    let body = values.map(|value| {
        let mut line = serde_json::to_vec(&value).unwrap_or_else(|_| b"{}".to_vec());
        line.push(b'\n');
        Ok::<_, Infallible>(Bytes::from(line))
    });
    streaming_response(Body::from_stream(body), "application/x-ndjson")
}

/// Server-sent events, one `data:` per value, closed by `data: [DONE]`, as OpenAI streams.
pub fn sse(values: impl Stream<Item = Value> + Send + 'static) -> Response {
    let events = values
        .map(|value| {
            let json = serde_json::to_string(&value).unwrap_or_else(|_| "{}".into());
            Bytes::from(format!("data: {json}\n\n"))
        })
        .chain(futures_util::stream::once(async {
            Bytes::from_static(b"data: [DONE]\n\n")
        }))
        .map(Ok::<_, Infallible>);
    streaming_response(Body::from_stream(events), "text/event-stream")
}

fn streaming_response(body: Body, content_type: &'static str) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Ask proxies such as nginx not to buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
