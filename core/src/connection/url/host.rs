//! The server's host and port as the URL writes them: in its authority
//! (`host[:port]`, `[IPv6][:port]`, an encoded socket directory) or in the
//! `host` and `port` parameters.

use std::path::PathBuf;

use super::decode::{decode_text, Decoding, Part};
use super::error::UrlError;
use crate::connection::target::Host;

/// Splits `host[:port]` from the URL. Errors never echo it: when a password
/// holds an unencoded '/', its first part lands here.
pub(super) fn parse_hostport(hostport: &str) -> Result<(Option<Host>, Option<u16>), UrlError> {
    if hostport.contains(',') {
        return Err(UrlError::SeveralHosts);
    }
    let (host, port) = match hostport.strip_prefix('[') {
        Some(bracketed) => bracketed_host(bracketed)?,
        None => {
            let (host, port) = match hostport.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            };
            let host = decode_text(host, Decoding::Component, Part::Host)?;
            ((!host.is_empty()).then(|| host_from(&host)), port)
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(port) => Some(parse_port(port).ok_or(UrlError::Port)?),
    };
    Ok((host, port))
}

/// `[address]` and what follows it, the opening bracket gone.
fn bracketed_host(bracketed: &str) -> Result<(Option<Host>, Option<&str>), UrlError> {
    let (address, after) = bracketed.split_once(']').ok_or(UrlError::UnclosedIpv6)?;
    if address.parse::<std::net::Ipv6Addr>().is_err() {
        return Err(UrlError::InvalidIpv6);
    }
    let port = match after {
        "" => None,
        _ => Some(after.strip_prefix(':').ok_or(UrlError::TextAfterIpv6)?),
    };
    Ok((Some(Host::Tcp(address.to_owned())), port))
}

pub(super) fn parse_host_param(value: &str) -> Result<Host, UrlError> {
    if value.contains(',') {
        return Err(UrlError::SeveralHostsInParameter);
    }
    Ok(host_from(value))
}

fn host_from(host: &str) -> Host {
    if host.starts_with('/') {
        Host::Unix(PathBuf::from(host))
    } else {
        Host::Tcp(host.to_owned())
    }
}

pub(super) fn parse_port_param(value: &str) -> Result<u16, UrlError> {
    parse_port(value).ok_or_else(|| UrlError::PortParameter(value.to_owned()))
}

fn parse_port(text: &str) -> Option<u16> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|&port| port != 0)
}
