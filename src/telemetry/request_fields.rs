//! The request a log line was written in: its id, matched route and method, added to every
//! line written while the request's future runs.
//!
//! Why not a tracing span per request: with the JSON formatter a span formats its fields
//! into a JSON string when it is created, whether or not anything is logged in it, which
//! cost ~10k instructions on every request (`bench/callgrind.sh`), about as much as the
//! whole bare HTTP stack. Here a request only puts an `Arc` into a thread-local slot while
//! its future is polled; the fields are formatted only when a line is actually written.
//! What a line shows is the same as before: `request_id`, `route`, `method` (at the top
//! level of a JSON line; ` request_id=… route=… method=…` after a plain one).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::MatchedPath;
use axum::http::{HeaderValue, Method};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// What is known of a request for its log lines.
pub struct RequestFields {
    /// The `x-request-id` value (shared bytes: no copy per request).
    pub request_id: HeaderValue,
    /// The matched route template (never the raw path); `None`: no route matched.
    pub route: Option<MatchedPath>,
    pub method: Method,
}

thread_local! {
    /// The request whose future this thread is polling now.
    static CURRENT: RefCell<Option<Arc<RequestFields>>> = const { RefCell::new(None) };
}

/// Runs `f` as part of the request `fields` describes (its log lines carry them).
pub fn in_request<T>(fields: &Arc<RequestFields>, f: impl FnOnce() -> T) -> T {
    let previous = CURRENT.with(|slot| slot.replace(Some(fields.clone())));
    // Restored even if `f` panics (the serving layer catches handler panics).
    struct Restore(Option<Arc<RequestFields>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|slot| *slot.borrow_mut() = previous);
        }
    }
    let _restore = Restore(previous);
    f()
}

/// The id of the request this thread is working on now, if any.
pub fn current_request_id() -> Option<HeaderValue> {
    CURRENT.with(|slot| slot.borrow().as_ref().map(|r| r.request_id.clone()))
}

/// A (boxed) future whose every poll runs as part of a request (see [`in_request`]).
pub struct InRequest<T> {
    fields: Arc<RequestFields>,
    inner: Pin<Box<dyn Future<Output = T> + Send>>,
}

impl<T> InRequest<T> {
    pub fn new(
        fields: Arc<RequestFields>,
        inner: impl Future<Output = T> + Send + 'static,
    ) -> Self {
        Self {
            fields,
            inner: Box::pin(inner),
        }
    }
}

impl<T> Future for InRequest<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        in_request(&this.fields, || this.inner.as_mut().poll(cx))
    }
}

/// An event formatter that adds the current request's fields to the line `inner` writes.
pub struct WithRequestFields<E> {
    inner: E,
    json: bool,
}

impl<E> WithRequestFields<E> {
    /// `json`: whether `inner` writes one JSON object per line.
    pub fn new(inner: E, json: bool) -> Self {
        Self { inner, json }
    }
}

impl<S, N, E> FormatEvent<S, N> for WithRequestFields<E>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    E: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let current = CURRENT.with(|slot| slot.borrow().clone());
        // Audit lines name their request themselves.
        let names_its_request = event.fields().any(|f| f.name() == "request_id");
        let Some(request) = current.filter(|_| !names_its_request) else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        if self.json
            && let Some(rest) = line.strip_prefix('{')
        {
            writer.write_char('{')?;
            write_json_field(&mut writer, "request_id", request_id(&request))?;
            write_json_field(&mut writer, "route", route_name(&request))?;
            write_json_field(&mut writer, "method", request.method.as_str())?;
            return writer.write_str(rest);
        }
        let (text, newline) = match line.strip_suffix('\n') {
            Some(text) => (text, "\n"),
            None => (line.as_str(), ""),
        };
        write!(
            writer,
            "{text} request_id={} route={} method={}{newline}",
            request_id(&request),
            route_name(&request),
            request.method
        )
    }
}

fn route_name(request: &RequestFields) -> &str {
    request
        .route
        .as_ref()
        .map_or("unmatched", MatchedPath::as_str)
}

fn request_id(request: &RequestFields) -> &str {
    request.request_id.to_str().unwrap_or("")
}

/// `"name":"value",` with the value escaped as JSON.
fn write_json_field(writer: &mut Writer<'_>, name: &str, value: &str) -> fmt::Result {
    let value = serde_json::to_string(value).map_err(|_| fmt::Error)?;
    write!(writer, "\"{name}\":{value},")
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Mutex;
    use tracing_subscriber::fmt::MakeWriter;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into()
        }
    }

    fn request() -> Arc<RequestFields> {
        Arc::new(RequestFields {
            request_id: HeaderValue::from_static("id-\"1\""),
            route: None,
            method: Method::GET,
        })
    }

    #[test]
    fn json_lines_in_a_request_carry_its_fields_once() {
        let captured = Captured::default();
        let format = tracing_subscriber::fmt::format().json().flatten_event(true);
        let subscriber = tracing_subscriber::fmt()
            .json()
            .event_format(WithRequestFields::new(format, true))
            .with_writer(captured.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!("outside");
            in_request(&request(), || {
                tracing::warn!(detail = 1, "inside");
                tracing::warn!(request_id = "own", "audit-like");
            });
        });
        let lines: Vec<serde_json::Value> = captured
            .text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].get("request_id").is_none(), "{}", lines[0]);
        assert_eq!(lines[1]["request_id"], "id-\"1\"");
        assert_eq!(lines[1]["route"], "unmatched");
        assert_eq!(lines[1]["method"], "GET");
        assert_eq!(lines[1]["detail"], 1);
        assert_eq!(lines[2]["request_id"], "own", "an event's own id wins");
    }

    #[test]
    fn plain_lines_in_a_request_end_with_its_fields() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .event_format(WithRequestFields::new(
                tracing_subscriber::fmt::format().with_ansi(false),
                false,
            ))
            .with_writer(captured.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            in_request(&request(), || tracing::warn!("inside"));
            tracing::warn!("after");
        });
        let text = captured.text();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].ends_with("inside request_id=id-\"1\" route=unmatched method=GET"),
            "{text}"
        );
        assert!(lines[1].ends_with("after"), "{text}");
    }
}
