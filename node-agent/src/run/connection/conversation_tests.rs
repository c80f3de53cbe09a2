use super::*;

const S: Duration = Duration::from_secs(1);
const A: ContentHash = ContentHash([0xaa; 32]);
const B: ContentHash = ContentHash([0xbb; 32]);

/// A step of a stream's life at `t0 + secs`.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The latest snapshot hashes to this from now on.
    Latest(ContentHash),
    /// Expect exactly this to be sent now (kind, sequence), or nothing.
    Send(Option<(MessageKind, u64)>),
    Ack(u64),
    /// A Resend for this hash: expect whether it asks for the latest in full.
    Resend(ContentHash, bool),
    /// Expect this message to be overdue now.
    Overdue(Option<u64>),
}

fn play(welcome: Option<ContentHash>, steps: &[(u64, Step)]) {
    let t0 = Instant::now();
    let mut conversation = Conversation::new(welcome, 10 * S, 30 * S);
    let mut latest = A;
    for (i, (secs, step)) in steps.iter().enumerate() {
        let now = t0 + Duration::from_secs(*secs);
        match *step {
            Step::Latest(hash) => latest = hash,
            Step::Send(expected) => {
                let sent = conversation.take_due(latest, now);
                assert_eq!(
                    sent.map(|m| (m.kind, m.sequence)),
                    expected,
                    "step {i} at {secs}s"
                );
                if let Some(message) = sent {
                    assert_eq!(message.hash, latest, "step {i}: names the latest hash");
                }
            }
            Step::Ack(sequence) => {
                assert!(
                    conversation.acknowledge(sequence).is_some(),
                    "step {i}: ack {sequence}"
                );
            }
            Step::Resend(hash, full) => {
                assert_eq!(conversation.resend(hash, latest), full, "step {i}");
            }
            Step::Overdue(sequence) => assert_eq!(
                conversation.overdue(now).map(|o| o.message.sequence),
                sequence,
                "step {i} at {secs}s"
            ),
        }
    }
}

use MessageKind::{Heartbeat, Upload};
use Step::*;

#[test]
fn a_new_server_gets_the_snapshot_then_heartbeats() {
    play(
        None,
        &[
            (0, Send(Some((Upload, 1)))),
            (0, Send(None)),
            (0, Ack(1)),
            (9, Send(None)),
            (10, Send(Some((Heartbeat, 2)))),
            (10, Ack(2)),
            (15, Send(None)),
            (20, Send(Some((Heartbeat, 3)))),
        ],
    );
}

#[test]
fn a_server_that_holds_the_snapshot_gets_a_heartbeat_at_once() {
    play(
        Some(A),
        &[
            (0, Send(Some((Heartbeat, 1)))),
            (0, Send(None)),
            (10, Send(Some((Heartbeat, 2)))),
        ],
    );
}

#[test]
fn a_server_holding_an_older_snapshot_gets_the_latest() {
    play(Some(B), &[(0, Send(Some((Upload, 1))))]);
}

#[test]
fn a_change_is_uploaded_at_once_and_heartbeats_follow_it() {
    play(
        None,
        &[
            (0, Send(Some((Upload, 1)))),
            (3, Latest(B)),
            (3, Send(Some((Upload, 2)))),
            (12, Send(None)),
            (13, Send(Some((Heartbeat, 3)))),
            // back to the first state: the server is told, in full (it deduplicates)
            (14, Latest(A)),
            (14, Send(Some((Upload, 4)))),
        ],
    );
}

#[test]
fn resend_of_the_latest_is_answered_in_full_and_a_stale_one_ignored() {
    play(
        Some(A),
        &[
            (0, Send(Some((Heartbeat, 1)))),
            (0, Resend(A, true)),
            (0, Send(Some((Upload, 2)))),
            (0, Send(None)),
            (5, Latest(B)),
            (5, Send(Some((Upload, 3)))),
            // the server answers heartbeat 1's old hash late: B is already on its way
            (5, Resend(A, false)),
            (5, Send(None)),
        ],
    );
}

#[test]
fn an_unacknowledged_message_is_overdue_after_the_ack_timeout() {
    play(
        None,
        &[
            (0, Send(Some((Upload, 1)))),
            (10, Send(Some((Heartbeat, 2)))),
            (29, Overdue(None)),
            (30, Overdue(Some(1))),
            (30, Ack(1)),
            (30, Overdue(None)),
            (40, Overdue(Some(2))),
        ],
    );
}

#[test]
fn unknown_and_repeated_acks_are_refused() {
    let now = Instant::now();
    let mut conversation = Conversation::new(None, 10 * S, 30 * S);
    assert_eq!(conversation.acknowledge(1), None, "nothing sent yet");
    let sent = conversation.take_due(A, now).unwrap();
    assert_eq!(conversation.acknowledge(sent.sequence), Some(sent));
    assert_eq!(
        conversation.acknowledge(sent.sequence),
        None,
        "acked already"
    );
}

#[test]
fn the_next_deadline_is_the_heartbeat_or_the_ack_timeout() {
    let t0 = Instant::now();
    let mut conversation = Conversation::new(None, 10 * S, 30 * S);
    assert_eq!(conversation.next_deadline(), None);
    conversation.take_due(A, t0);
    assert_eq!(conversation.next_deadline(), Some(t0 + 10 * S));
    let mut slow_heartbeats = Conversation::new(None, 60 * S, 30 * S);
    slow_heartbeats.take_due(A, t0);
    assert_eq!(slow_heartbeats.next_deadline(), Some(t0 + 30 * S));
    slow_heartbeats.acknowledge(1);
    assert_eq!(slow_heartbeats.next_deadline(), Some(t0 + 60 * S));
}
