//! RTM_GETNSID: the id this namespace uses for another one (`ip netns list` "id: N").

use std::os::fd::{AsFd, AsRawFd};

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};

use super::MessageError;
use super::socket::{NetlinkError, Request, RouteSocket};

impl RouteSocket {
    /// The id the socket's namespace has for the namespace `ns` refers to (an open
    /// `/var/run/netns/NAME` or `/proc/PID/ns/net`), as a veth's `link-netnsid` shows it. `None`
    /// when the kernel has assigned it none (ids are assigned lazily, e.g. when a veth is moved).
    /// Asking never assigns one.
    pub fn nsid_of(&mut self, ns: impl AsFd) -> Result<Option<i32>, NetlinkError> {
        self.nsids_of(std::slice::from_ref(&ns))?
            .pop()
            .unwrap_or(Err(NetlinkError::NoAnswer {
                request: Request::Nsid,
            }))
    }

    /// [`RouteSocket::nsid_of`] for each of `namespaces`, asked many to a datagram: one result
    /// per namespace, in order. The files must stay open until this returns (each request names
    /// its namespace by file descriptor). Only a failed conversation fails the whole call.
    pub fn nsids_of<F: AsFd>(
        &mut self,
        namespaces: &[F],
    ) -> Result<Vec<Result<Option<i32>, NetlinkError>>, NetlinkError> {
        let request = Request::Nsid;
        let messages: Vec<RouteNetlinkMessage> = namespaces
            .iter()
            .map(|ns| {
                let mut message = NsidMessage::default();
                let fd = ns.as_fd().as_raw_fd().cast_unsigned();
                message.attributes.push(NsidAttribute::Fd(fd));
                RouteNetlinkMessage::GetNsId(message)
            })
            .collect();
        let answers = self.ask_all(request, &messages)?;
        Ok(answers
            .into_iter()
            .map(|answer| match answer {
                Ok(RouteNetlinkMessage::NewNsId(answer)) => nsid_from_message(&answer)
                    .map_err(|source| NetlinkError::Malformed { request, source }),
                Ok(other) => Err(NetlinkError::Unexpected {
                    request,
                    message_type: other.message_type(),
                }),
                Err(errno) => Err(NetlinkError::refused(request, errno)),
            })
            .collect())
    }
}

/// `NETNSA_NSID` of an RTM_NEWNSID answer; −1 (`NETNSA_NSID_NOT_ASSIGNED`) is `None`.
fn nsid_from_message(message: &NsidMessage) -> Result<Option<i32>, MessageError> {
    message
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            NsidAttribute::Id(id) => Some((*id >= 0).then_some(*id)),
            _ => None,
        })
        .ok_or(MessageError::MissingAttribute {
            attribute: "NETNSA_NSID",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unassigned_id_is_none() {
        let mut message = NsidMessage::default();
        message.attributes.push(NsidAttribute::Id(-1));
        assert_eq!(nsid_from_message(&message), Ok(None));
        message.attributes[0] = NsidAttribute::Id(3);
        assert_eq!(nsid_from_message(&message), Ok(Some(3)));
        message.attributes.clear();
        assert!(nsid_from_message(&message).is_err());
    }
}
