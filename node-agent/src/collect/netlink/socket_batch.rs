//! Many single requests to a datagram: rtnetlink handles every message of a datagram in turn
//! while the sending call runs, so a batch costs one round trip instead of one per request.

use netlink_packet_core::{NLM_F_REQUEST, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;

use super::{Frame, MSG_DONTWAIT, NetlinkError, Received, Request, RouteSocket};

/// `ENOBUFS`: the kernel dropped a message for this socket because its receive buffer was full.
const ENOBUFS: i32 = nix::errno::Errno::ENOBUFS as i32;

/// What one queued answer to a single request (an RTM_NEWNSID, an error) is taken to cost in the
/// receive buffer, overhead included. Measured: about 830 bytes even for an RTM_NEWROUTE answer
/// to one packet, larger than those; the margin keeps a batch well inside the buffer.
const ANSWER_BUFFER_BYTES: usize = 2048;

/// Requests sent in one datagram at most, whatever the receive buffer would allow.
pub(super) const MAX_BATCH: usize = 64;

impl RouteSocket {
    /// Sends every message of `messages` (non-dump requests) and returns the kernel's answers in
    /// the same order, each its message or the errno of its `NLMSG_ERROR`.
    ///
    /// rtnetlink handles every message of a datagram in turn while the sending call runs, so
    /// `batch` requests go out in one `sendto` and their answers are read back matched by
    /// sequence number: a round trip per batch instead of per request. An answer the kernel
    /// could not queue (the receive buffer overran, `ENOBUFS`) or that did not fit the receive
    /// buffer is asked again on its own.
    pub(in super::super) fn ask_all(
        &mut self,
        request: Request,
        messages: &[RouteNetlinkMessage],
    ) -> Result<Vec<Result<RouteNetlinkMessage, i32>>, NetlinkError> {
        let batch = *self.batch.get_or_insert_with(|| {
            // Unknown: one request at a time, as if every batch were the last resort.
            self.socket.get_rx_buf_sz().map_or(1, batch_for_buffer)
        });
        let mut answers = Vec::with_capacity(messages.len());
        for batch in messages.chunks(batch) {
            let first_sequence = self.send_batch(request, batch)?;
            let mut batch_answers = self.receive_batch(request, first_sequence, batch.len())?;
            for (answer, message) in batch_answers.iter_mut().zip(batch) {
                if answer.is_none() {
                    *answer = Some(self.ask(request, message.clone())?);
                }
            }
            answers.extend(batch_answers.into_iter().flatten());
        }
        Ok(answers)
    }

    /// Sends `messages` in one datagram with consecutive sequence numbers; returns the first.
    pub(super) fn send_batch(
        &mut self,
        request: Request,
        messages: &[RouteNetlinkMessage],
    ) -> Result<u32, NetlinkError> {
        // Sequence numbers must not wrap inside a batch: the answers are matched by range.
        if self
            .next_sequence
            .checked_add(u32::try_from(messages.len()).unwrap_or(u32::MAX))
            .is_none()
        {
            self.next_sequence = 1;
        }
        let first_sequence = self.next_sequence;
        self.send_buffer.clear();
        for message in messages {
            let sequence = self.next_sequence;
            self.next_sequence += 1;
            self.append_message(message, NLM_F_REQUEST, sequence);
        }
        self.send_datagram(request)?;
        Ok(first_sequence)
    }

    /// Reads the answers to `count` requests numbered from `first_sequence`. `None` for one whose
    /// answer was lost (receive buffer overrun or a datagram too large), to be asked again.
    pub(super) fn receive_batch(
        &mut self,
        request: Request,
        first_sequence: u32,
        count: usize,
    ) -> Result<Vec<Option<Result<RouteNetlinkMessage, i32>>>, NetlinkError> {
        let mut answers: Vec<Option<Result<RouteNetlinkMessage, i32>>> = vec![None; count];
        let mut pending = count;
        // After a loss the kernel has already queued every answer it could (it answers while
        // the batch is sent), so whatever is still missing then will not come: stop waiting.
        let mut lost = false;
        while pending > 0 {
            let flags = if lost { MSG_DONTWAIT } else { 0 };
            let length = match self.receive(request, flags) {
                Ok(Received::Whole(length)) => length,
                Ok(Received::Truncated) => {
                    lost = true;
                    continue;
                }
                Ok(Received::Nothing) => break,
                Err(NetlinkError::Receive { source, .. })
                    if source.raw_os_error() == Some(ENOBUFS) =>
                {
                    lost = true;
                    continue;
                }
                Err(error) => return Err(error),
            };
            let mut offset = 0;
            while offset < length {
                let frame = Frame::read(&self.receive_buffer[offset..length], request)?;
                offset += frame.aligned_length;
                let index = frame.sequence.wrapping_sub(first_sequence) as usize;
                let Some(slot) = answers.get_mut(index).filter(|slot| slot.is_none()) else {
                    continue;
                };
                let answer = match frame.message?.payload {
                    NetlinkPayload::InnerMessage(inner) => Ok(inner),
                    NetlinkPayload::Error(error) => match error.code {
                        Some(code) => Err(code.get().saturating_abs()),
                        // An acknowledgement, not an answer: nothing asked for one.
                        None => return Err(NetlinkError::NoAnswer { request }),
                    },
                    NetlinkPayload::Noop => continue,
                    _ => {
                        return Err(NetlinkError::Unexpected {
                            request,
                            message_type: frame.message_type,
                        });
                    }
                };
                *slot = Some(answer);
                pending -= 1;
            }
        }
        Ok(answers)
    }
}

/// How many requests to send at once on a socket whose receive buffer is `bytes` (as
/// `SO_RCVBUF` reports it, overhead allowance included).
pub(super) fn batch_for_buffer(bytes: usize) -> usize {
    (bytes / ANSWER_BUFFER_BYTES).clamp(1, MAX_BATCH)
}
