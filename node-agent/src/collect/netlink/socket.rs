//! The blocking NETLINK_ROUTE socket: one request at a time (or many single requests to a
//! datagram, `socket_batch.rs`), replies matched by sequence number, multi-part dumps read to
//! `NLMSG_DONE`, `NLMSG_ERROR` turned into typed errors.

use std::fmt;
use std::io;
use std::net::IpAddr;

use netlink_packet_core::{
    DecodeError, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkBuffer, NetlinkHeader,
    NetlinkMessage, NetlinkPayload, Parseable,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use super::MessageError;
use super::links::link_message_of_payload;

/// `RTM_NEWLINK` from `<linux/rtnetlink.h>`.
const RTM_NEWLINK: u16 = 16;

/// `MSG_TRUNC` from `<linux/socket.h>`: makes `recv` return a datagram's real length even when it
/// did not fit, so an oversized reply is detected instead of silently cut.
const MSG_TRUNC: i32 = 0x20;

/// `MSG_DONTWAIT` from `<linux/socket.h>`.
const MSG_DONTWAIT: i32 = 0x40;

/// Netlink messages start on 4-byte boundaries (`NLMSG_ALIGNTO`).
const NLMSG_ALIGNTO: usize = 4;

/// The kernel fills dump datagrams up to `SKB_WITH_OVERHEAD(32768)` bytes once it has seen a
/// reader with a buffer at least that large, so 32 KiB holds a whole batch. A larger datagram
/// (a single huge message) is detected with `MSG_TRUNC` and the request is repeated with a buffer
/// grown to fit.
const RECEIVE_BUFFER_BYTES: usize = 32 * 1024;

/// The receive buffer of [`RouteSocket::open_for_small_dumps`]: one page.
const SMALL_RECEIVE_BUFFER_BYTES: usize = 4096;

/// Replies larger than this are refused rather than allocated for.
const MAX_RECEIVE_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// How many times a dump is repeated when the kernel flags it inconsistent (`NLM_F_DUMP_INTR`,
/// the table changed while it was read) or a reply did not fit the receive buffer.
const MAX_ATTEMPTS: u32 = 4;

/// Which request a failure belongs to; also the label that error messages use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Links,
    Addresses,
    Routes,
    Rules,
    Neighbors,
    Nsid,
    RouteGet,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Request::Links => "RTM_GETLINK dump",
            Request::Addresses => "RTM_GETADDR dump",
            Request::Routes => "RTM_GETROUTE dump",
            Request::Rules => "RTM_GETRULE dump",
            Request::Neighbors => "RTM_GETNEIGH dump",
            Request::Nsid => "RTM_GETNSID request",
            Request::RouteGet => "RTM_GETROUTE request",
        })
    }
}

/// A failure of the netlink conversation itself (not a kernel routing decision).
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("cannot open a NETLINK_ROUTE socket")]
    Open(#[source] io::Error),
    #[error("cannot send the {request}")]
    Send {
        request: Request,
        #[source]
        source: io::Error,
    },
    #[error("cannot receive the reply to the {request}")]
    Receive {
        request: Request,
        #[source]
        source: io::Error,
    },
    /// The kernel answered with `NLMSG_ERROR` (or a failed `NLMSG_DONE`).
    #[error("the kernel refused the {request}")]
    Refused {
        request: Request,
        errno: i32,
        #[source]
        source: io::Error,
    },
    #[error("cannot decode the reply to the {request}")]
    Decode {
        request: Request,
        #[source]
        source: DecodeError,
    },
    #[error("malformed message in the reply to the {request}")]
    Malformed {
        request: Request,
        #[source]
        source: MessageError,
    },
    /// Every attempt was flagged `NLM_F_DUMP_INTR`: the objects kept changing while dumped.
    #[error("the {request} was inconsistent {attempts} times in a row (NLM_F_DUMP_INTR)")]
    Interrupted { request: Request, attempts: u32 },
    #[error(
        "a reply to the {request} is {bytes} bytes, more than the {MAX_RECEIVE_BUFFER_BYTES} allowed"
    )]
    Oversized { request: Request, bytes: usize },
    #[error("the kernel sent no answer to the {request}")]
    NoAnswer { request: Request },
    #[error("cannot ask for a route from {from} to {to}: their address families differ")]
    MixedFamilies { from: IpAddr, to: IpAddr },
    #[error("unexpected message type {message_type} in the reply to the {request}")]
    Unexpected { request: Request, message_type: u16 },
}

impl NetlinkError {
    /// The OS error number behind this failure, when there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Refused { errno, .. } => Some(*errno),
            NetlinkError::Open(source)
            | NetlinkError::Send { source, .. }
            | NetlinkError::Receive { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    pub(super) fn refused(request: Request, code: i32) -> Self {
        let errno = code.saturating_abs();
        NetlinkError::Refused {
            request,
            errno,
            source: io::Error::from_raw_os_error(errno),
        }
    }
}

/// What one attempt at a request ended with.
enum Attempt<T> {
    Done(T),
    /// Repeat the request: the dump was inconsistent or a datagram did not fit.
    Again,
}

/// A blocking NETLINK_ROUTE socket. It stays bound to the network namespace of the thread that
/// opened it, whatever that thread does afterwards.
#[derive(Debug)]
pub struct RouteSocket {
    socket: Socket,
    kernel: SocketAddr,
    next_sequence: u32,
    send_buffer: Vec<u8>,
    /// Reused for every datagram; grown only when the kernel sends one that does not fit.
    receive_buffer: Vec<u8>,
    /// Requests [`RouteSocket::ask_all`] sends in one datagram: as many as the socket's receive
    /// buffer surely holds the answers of. Found on first use: most sockets only dump.
    batch: Option<usize>,
}

impl RouteSocket {
    /// Opens a socket in the calling thread's network namespace. Strict checking stays off: with
    /// it the kernel would filter route dumps by the (zero) table in the request header.
    pub fn open() -> Result<Self, NetlinkError> {
        Self::open_with_receive_buffer(RECEIVE_BUFFER_BYTES)
    }

    /// [`RouteSocket::open`] for a namespace with a few links, addresses and routes (a pod's).
    /// The kernel sizes each datagram of a dump after the largest buffer `recv` has offered, so
    /// with a 32 KiB buffer it would allocate 32 KiB for every batch of every dump, for a few
    /// hundred bytes each; a page is enough, and anything larger still arrives, in more
    /// datagrams (or after the buffer grows, for a single larger message).
    pub fn open_for_small_dumps() -> Result<Self, NetlinkError> {
        Self::open_with_receive_buffer(SMALL_RECEIVE_BUFFER_BYTES)
    }

    fn open_with_receive_buffer(bytes: usize) -> Result<Self, NetlinkError> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::Open)?;
        // Port 0: the kernel picks the address (nothing here needs to know it).
        socket
            .bind(&SocketAddr::new(0, 0))
            .map_err(NetlinkError::Open)?;
        Ok(RouteSocket {
            socket,
            kernel: SocketAddr::new(0, 0),
            next_sequence: 1,
            send_buffer: Vec::with_capacity(256),
            receive_buffer: Vec::with_capacity(bytes),
            batch: None,
        })
    }

    /// A socket whose receive buffer starts at `bytes`, to exercise the growth path.
    #[cfg(test)]
    fn with_receive_buffer(bytes: usize) -> Result<Self, NetlinkError> {
        Self::open_with_receive_buffer(bytes)
    }

    /// Dumps every object `message` asks for, converting each reply message with `convert`
    /// (which returns `None` for messages to skip). An inconsistent dump is read to its end and
    /// repeated.
    pub(super) fn dump_objects<T>(
        &mut self,
        request: Request,
        message: RouteNetlinkMessage,
        mut convert: impl FnMut(RouteNetlinkMessage) -> Result<Option<T>, MessageError>,
    ) -> Result<Vec<T>, NetlinkError> {
        let mut objects = Vec::new();
        for _ in 0..MAX_ATTEMPTS {
            objects.clear();
            match self.dump_once(request, &message, &mut convert, &mut objects)? {
                Attempt::Done(()) => return Ok(objects),
                Attempt::Again => continue,
            }
        }
        Err(NetlinkError::Interrupted {
            request,
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Sends one (non-dump) request and returns the kernel's answer: its message, or the errno
    /// of its `NLMSG_ERROR`.
    pub(super) fn ask(
        &mut self,
        request: Request,
        message: RouteNetlinkMessage,
    ) -> Result<Result<RouteNetlinkMessage, i32>, NetlinkError> {
        for _ in 0..MAX_ATTEMPTS {
            match self.ask_once(request, &message)? {
                Attempt::Done(answer) => return Ok(answer),
                Attempt::Again => continue,
            }
        }
        Err(NetlinkError::NoAnswer { request })
    }

    fn dump_once<T>(
        &mut self,
        request: Request,
        message: &RouteNetlinkMessage,
        convert: &mut impl FnMut(RouteNetlinkMessage) -> Result<Option<T>, MessageError>,
        objects: &mut Vec<T>,
    ) -> Result<Attempt<()>, NetlinkError> {
        let sequence = self.send(request, message, NLM_F_REQUEST | NLM_F_DUMP)?;
        // These are only acted on at NLMSG_DONE: a dump left unread would keep the socket busy
        // (EBUSY) for the repeat or for the next dump.
        let mut inconsistent = false;
        let mut truncated = false;
        let mut failure = None;
        loop {
            // After a lost datagram the kernel may have put NLMSG_DONE in it. The kernel queues
            // the next batch of a running dump while serving each `recv`, so an empty queue then
            // means the dump is over: stop waiting and repeat it.
            let flags = if truncated { MSG_DONTWAIT } else { 0 };
            let length = match self.receive(request, flags)? {
                Received::Whole(length) => length,
                Received::Truncated => {
                    truncated = true;
                    continue;
                }
                Received::Nothing => return Ok(Attempt::Again),
            };
            let mut offset = 0;
            while offset < length {
                let frame = match Frame::read(&self.receive_buffer[offset..length], request) {
                    Ok(frame) => frame,
                    Err(error) => {
                        // Without a valid length the rest of this datagram cannot be walked.
                        failure.get_or_insert(error);
                        break;
                    }
                };
                offset += frame.aligned_length;
                if frame.sequence != sequence {
                    continue;
                }
                inconsistent |= frame.flags & NLM_F_DUMP_INTR != 0;
                let message = match frame.message {
                    Ok(message) => message,
                    Err(error) => {
                        failure.get_or_insert(error);
                        continue;
                    }
                };
                match message.payload {
                    NetlinkPayload::InnerMessage(inner) => match convert(inner) {
                        Ok(object) => objects.extend(object),
                        Err(source) => {
                            failure.get_or_insert(NetlinkError::Malformed { request, source });
                        }
                    },
                    NetlinkPayload::Done(done) => {
                        if done.code < 0 {
                            return Err(NetlinkError::refused(request, done.code));
                        }
                        if let Some(failure) = failure {
                            return Err(failure);
                        }
                        return Ok(if inconsistent || truncated {
                            Attempt::Again
                        } else {
                            Attempt::Done(())
                        });
                    }
                    // An error ends the dump: nothing follows it.
                    NetlinkPayload::Error(error) => match error.code {
                        Some(code) => return Err(NetlinkError::refused(request, code.get())),
                        None => continue,
                    },
                    NetlinkPayload::Noop => continue,
                    _ => {
                        failure.get_or_insert(NetlinkError::Unexpected {
                            request,
                            message_type: frame.message_type,
                        });
                    }
                }
            }
        }
    }

    fn ask_once(
        &mut self,
        request: Request,
        message: &RouteNetlinkMessage,
    ) -> Result<Attempt<Result<RouteNetlinkMessage, i32>>, NetlinkError> {
        let sequence = self.send(request, message, NLM_F_REQUEST)?;
        loop {
            let length = match self.receive(request, 0)? {
                Received::Whole(length) => length,
                Received::Truncated | Received::Nothing => return Ok(Attempt::Again),
            };
            let mut offset = 0;
            while offset < length {
                let frame = Frame::read(&self.receive_buffer[offset..length], request)?;
                offset += frame.aligned_length;
                if frame.sequence != sequence {
                    continue;
                }
                match frame.message?.payload {
                    NetlinkPayload::InnerMessage(inner) => return Ok(Attempt::Done(Ok(inner))),
                    NetlinkPayload::Error(error) => match error.code {
                        Some(code) => return Ok(Attempt::Done(Err(code.get().saturating_abs()))),
                        None => return Err(NetlinkError::NoAnswer { request }),
                    },
                    NetlinkPayload::Noop => continue,
                    _ => {
                        return Err(NetlinkError::Unexpected {
                            request,
                            message_type: frame.message_type,
                        });
                    }
                }
            }
        }
    }

    /// Serializes and sends `message` with a fresh sequence number, which it returns.
    fn send(
        &mut self,
        request: Request,
        message: &RouteNetlinkMessage,
        flags: u16,
    ) -> Result<u32, NetlinkError> {
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1).max(1);
        self.send_buffer.clear();
        self.append_message(message, flags, sequence);
        self.send_datagram(request)?;
        Ok(sequence)
    }

    /// Appends `message` to the send buffer, at the 4-byte boundary the next message needs.
    fn append_message(&mut self, message: &RouteNetlinkMessage, flags: u16, sequence: u32) {
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message.clone()));
        packet.finalize();
        let start = self.send_buffer.len();
        let length = packet.buffer_len();
        self.send_buffer
            .resize(start + length.next_multiple_of(NLMSG_ALIGNTO), 0);
        packet.serialize(&mut self.send_buffer[start..start + length]);
    }

    /// Sends the send buffer as one datagram.
    fn send_datagram(&mut self, request: Request) -> Result<(), NetlinkError> {
        loop {
            match self.socket.send_to(&self.send_buffer, &self.kernel, 0) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(NetlinkError::Send { request, source }),
            }
        }
    }

    /// Receives one datagram into the receive buffer. A datagram that did not fit is lost; the
    /// buffer is grown so that a repeat of the request fits.
    fn receive(&mut self, request: Request, flags: i32) -> Result<Received, NetlinkError> {
        loop {
            self.receive_buffer.clear();
            match self
                .socket
                .recv(&mut self.receive_buffer, flags | MSG_TRUNC)
            {
                Ok(length) if length <= self.receive_buffer.len() => {
                    return Ok(Received::Whole(length));
                }
                Ok(length) => {
                    if length > MAX_RECEIVE_BUFFER_BYTES {
                        return Err(NetlinkError::Oversized {
                            request,
                            bytes: length,
                        });
                    }
                    self.receive_buffer = Vec::with_capacity(length.next_multiple_of(4096));
                    return Ok(Received::Truncated);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Received::Nothing),
                Err(source) => return Err(NetlinkError::Receive { request, source }),
            }
        }
    }
}

/// The outcome of one `recv`.
enum Received {
    /// A datagram of this many bytes is in the receive buffer.
    Whole(usize),
    /// A datagram larger than the receive buffer arrived and was lost.
    Truncated,
    /// Nothing was queued (only with `MSG_DONTWAIT`).
    Nothing,
}

/// One netlink message cut out of a received datagram.
struct Frame {
    sequence: u32,
    flags: u16,
    message_type: u16,
    /// Where the next message starts, relative to this one (`NLMSG_ALIGN(nlmsg_len)`).
    aligned_length: usize,
    /// The decoded message; a message that does not decode still has a valid header, so the
    /// messages after it can be read.
    message: Result<NetlinkMessage<RouteNetlinkMessage>, NetlinkError>,
}

impl Frame {
    /// Cuts the first message out of `bytes`; fails only when its header is unusable.
    fn read(bytes: &[u8], request: Request) -> Result<Frame, NetlinkError> {
        let decode = |source| NetlinkError::Decode { request, source };
        let buffer = NetlinkBuffer::new_checked(bytes).map_err(decode)?;
        let length = buffer.length() as usize;
        Ok(Frame {
            sequence: buffer.sequence_number(),
            flags: buffer.flags(),
            message_type: buffer.message_type(),
            aligned_length: length.next_multiple_of(4).min(bytes.len()),
            message: decode_reply(&bytes[..length]).map_err(decode),
        })
    }
}

/// Decodes one whole netlink message (header included), every attribute of it.
pub fn decode_message(bytes: &[u8]) -> Result<NetlinkMessage<RouteNetlinkMessage>, DecodeError> {
    NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes)
}

/// Decodes one reply message: a link with only the attributes the agent reads (see
/// [`link_message_of_payload`]), anything else whole.
fn decode_reply(bytes: &[u8]) -> Result<NetlinkMessage<RouteNetlinkMessage>, DecodeError> {
    let buffer = NetlinkBuffer::new_checked(bytes)?;
    if buffer.message_type() != RTM_NEWLINK {
        return decode_message(bytes);
    }
    let header = NetlinkHeader::parse(&buffer)?;
    let link = link_message_of_payload(buffer.payload())?;
    Ok(NetlinkMessage::new(
        header,
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)),
    ))
}

/// Many requests to a datagram.
#[path = "socket_batch.rs"]
mod batch;

#[cfg(test)]
#[path = "socket_tests.rs"]
mod tests;
