//! Server-Sent Events: a stream of events sent as `text/event-stream`, each flushed at once.

use bytes::Bytes;
use futures_lite::{Stream, StreamExt};

use crate::http::response::{IntoResponse, Response};

/// One event (the WHATWG HTML "event stream" format). Line breaks inside `data` become
/// several `data:` lines; line breaks in the other fields, which the format cannot carry,
/// become spaces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    text: String,
}

fn single_line(value: &str) -> String {
    value.replace(['\r', '\n', '\0'], " ")
}

impl Event {
    /// An event whose `data` is `data`.
    pub fn data(data: &str) -> Event {
        let mut text = String::with_capacity(data.len() + 8);
        for line in data.split("\r\n").flat_map(|l| l.split(['\n', '\r'])) {
            text.push_str("data: ");
            text.push_str(line);
            text.push('\n');
        }
        Event { text }
    }

    /// Names the event type (`event:`), which browsers dispatch on.
    pub fn with_event(mut self, name: &str) -> Event {
        self.text = format!("event: {}\n{}", single_line(name), self.text);
        self
    }

    /// Sets the event id (`id:`), which a reconnecting client sends back as `Last-Event-ID`.
    pub fn with_id(mut self, id: &str) -> Event {
        self.text = format!("id: {}\n{}", single_line(id), self.text);
        self
    }

    /// Asks the client to wait `millis` before reconnecting (`retry:`).
    pub fn with_retry(mut self, millis: u64) -> Event {
        self.text = format!("retry: {millis}\n{}", self.text);
        self
    }

    /// The bytes of the event, ending with the blank line that dispatches it.
    pub fn into_bytes(self) -> Bytes {
        let mut text = self.text;
        text.push('\n');
        Bytes::from(text)
    }
}

/// A response of Server-Sent Events: `text/event-stream`, `Cache-Control: no-cache`, each
/// event written to the socket as soon as the stream yields it. A drain ends the stream.
pub struct Sse<S>(pub S);

impl<S: Stream<Item = Event> + 'static> IntoResponse for Sse<S> {
    fn into_response(self) -> Response {
        Response::stream("text/event-stream", self.0.map(Event::into_bytes))
            .with_header("cache-control", "no-cache")
    }
}

#[cfg(test)]
mod tests {
    use super::Event;

    #[test]
    fn events_are_framed_line_by_line() {
        assert_eq!(&Event::data("hi").into_bytes()[..], b"data: hi\n\n");
        assert_eq!(
            &Event::data("a\nb\r\nc")
                .with_event("tick")
                .with_id("7")
                .into_bytes()[..],
            b"id: 7\nevent: tick\ndata: a\ndata: b\ndata: c\n\n"
        );
        assert_eq!(
            &Event::data("x").with_event("bad\nname").into_bytes()[..],
            b"event: bad name\ndata: x\n\n"
        );
    }
}
