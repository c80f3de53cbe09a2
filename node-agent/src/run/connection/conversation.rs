//! What to send on an established stream, and when: the agent's side of the conversation
//! `ingest.proto` describes, as plain data with the clock passed in.
//!
//! - Right after `Welcome`: the latest snapshot in full, unless `Welcome` says the server already
//!   holds its content hash; then a heartbeat at once instead.
//! - Then a full upload whenever the latest content hash differs from the one the stream last
//!   named, and a heartbeat naming it when nothing was sent for a heartbeat interval.
//! - A `Resend` for the latest hash asks for it in full; a `Resend` for an older hash is stale (the
//!   newer snapshot is already on its way) and ignored.
//! - Every upload and heartbeat is acknowledged in turn; one left unacknowledged for the ack
//!   timeout means the server is stuck, and the session is given up.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use podwire_node_state::wire::ContentHash;

/// Which kind of message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Upload,
    Heartbeat,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Upload => "upload",
            MessageKind::Heartbeat => "heartbeat",
        }
    }
}

/// A message to send, or one sent and awaiting its `Ack`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing {
    pub kind: MessageKind,
    pub sequence: u64,
    pub hash: ContentHash,
}

/// A message left unacknowledged too long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overdue {
    pub message: Outgoing,
    pub waited: Duration,
}

/// The agent's bookkeeping for one stream.
#[derive(Debug, Clone)]
pub struct Conversation {
    heartbeat_interval: Duration,
    ack_timeout: Duration,
    next_sequence: u64,
    /// Welcome's `latest_content_hash`: the server holds that snapshot already.
    server_holds: Option<ContentHash>,
    /// The hash the last upload or heartbeat named.
    announced: Option<ContentHash>,
    resend_requested: bool,
    last_sent_at: Option<Instant>,
    unacked: VecDeque<(Outgoing, Instant)>,
}

impl Conversation {
    /// The conversation after `Welcome`.
    pub fn new(
        server_holds: Option<ContentHash>,
        heartbeat_interval: Duration,
        ack_timeout: Duration,
    ) -> Self {
        Conversation {
            heartbeat_interval,
            ack_timeout,
            next_sequence: 1,
            server_holds,
            announced: None,
            resend_requested: false,
            last_sent_at: None,
            unacked: VecDeque::new(),
        }
    }

    /// What is due now for a node whose latest snapshot hashes to `latest`, if anything.
    pub fn due(&self, latest: ContentHash, now: Instant) -> Option<MessageKind> {
        if self.resend_requested {
            return Some(MessageKind::Upload);
        }
        match (self.announced, self.last_sent_at) {
            (None, _) if self.server_holds == Some(latest) => Some(MessageKind::Heartbeat),
            (None, _) => Some(MessageKind::Upload),
            (Some(announced), _) if announced != latest => Some(MessageKind::Upload),
            (Some(_), Some(sent)) if now >= sent + self.heartbeat_interval => {
                Some(MessageKind::Heartbeat)
            }
            (Some(_), _) => None,
        }
    }

    /// Takes the message that is due, numbering it and recording it as sent at `now`.
    pub fn take_due(&mut self, latest: ContentHash, now: Instant) -> Option<Outgoing> {
        let kind = self.due(latest, now)?;
        let message = Outgoing {
            kind,
            sequence: self.next_sequence,
            hash: latest,
        };
        self.next_sequence += 1;
        self.announced = Some(latest);
        self.resend_requested &= kind != MessageKind::Upload;
        self.last_sent_at = Some(now);
        self.unacked.push_back((message, now));
        Some(message)
    }

    /// An `Ack` for `sequence`: the message it acknowledges, or `None` for a sequence this stream
    /// never sent (or that was acknowledged already).
    pub fn acknowledge(&mut self, sequence: u64) -> Option<Outgoing> {
        let index = self
            .unacked
            .iter()
            .position(|(m, _)| m.sequence == sequence)?;
        self.unacked.remove(index).map(|(message, _)| message)
    }

    /// A `Resend` naming `hash`: whether the latest snapshot will be sent in full because of it.
    pub fn resend(&mut self, hash: ContentHash, latest: ContentHash) -> bool {
        if hash != latest {
            return false;
        }
        self.resend_requested = true;
        true
    }

    /// The oldest unacknowledged message, when it has waited longer than the ack timeout.
    pub fn overdue(&self, now: Instant) -> Option<Overdue> {
        let (message, sent) = self.unacked.front()?;
        let waited = now.saturating_duration_since(*sent);
        (waited >= self.ack_timeout).then_some(Overdue {
            message: *message,
            waited,
        })
    }

    /// When something next falls due without any message arriving: a heartbeat, or an
    /// acknowledgement's deadline. `None` before the first message (that one is due at once).
    pub fn next_deadline(&self) -> Option<Instant> {
        let heartbeat = self.last_sent_at.map(|sent| sent + self.heartbeat_interval);
        let ack = self
            .unacked
            .front()
            .map(|(_, sent)| *sent + self.ack_timeout);
        match (heartbeat, ack) {
            (Some(h), Some(a)) => Some(h.min(a)),
            (h, a) => h.or(a),
        }
    }
}

#[cfg(test)]
#[path = "conversation_tests.rs"]
mod tests;
