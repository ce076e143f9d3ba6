//! Colibri2 (`jitsi:colibri2`) as jitsi-videobridge answers it.

mod handler;
mod request;
mod response;
#[cfg(test)]
mod tests;

pub use handler::{Colibri2Handler, Context, EndpointTransports, CAP_SOURCE_NAMES};
pub use request::{
    ConferenceModify, DtlsFingerprint, EndpointRequest, ForceMute, IceCandidate, IceUdpTransport, MediaDescription,
    MediaSource, MediaType, ParseError, PayloadType, RtpHdrExt, SctpRequest, Source, SsrcGroup, TransportRequest,
};
pub use response::{ice_udp_element, LocalCandidate, LocalTransport, SCTP_PORT};
