//! A Linux packet socket (`AF_PACKET`, cooked: packets from the network header on) with the cache ports' BPF
//! filter attached, so that the kernel copies only cache traffic, and the kernel's own count of what it dropped
//! (`PACKET_STATISTICS`). It needs `CAP_NET_RAW` (root, or `setcap`).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use cachescope_capture::bpf::Instruction;

const ETH_P_ALL: u16 = 0x0003;
/// `PACKET_IGNORE_OUTGOING` (Linux 4.20), which the libc crate does not name.
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
/// Asked of the kernel for the socket's receive buffer: room for bursts while the analysis catches up.
const RECEIVE_BUFFER: libc::c_int = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "capturing packets needs root or the CAP_NET_RAW capability: run it with sudo, or grant it once with \
         `sudo setcap cap_net_raw+ep {binary}`"
    )]
    Permission { binary: String },
    #[error("no network interface is called `{0}` (see `ip link`)")]
    NoInterface(String),
    #[error("cannot open a packet socket: {0}")]
    Other(io::Error),
}

/// One received packet: its length, the network protocol (`0x0800` IPv4, `0x86dd` IPv6) and whether it was
/// this host sending it on the loopback device (which shows every packet twice).
pub struct Received {
    pub len: usize,
    pub protocol: u16,
    pub looped_back_copy: bool,
}

pub struct PacketSocket {
    fd: OwnedFd,
    loopback: libc::c_int,
    /// The kernel's counts so far (it resets its own on each reading): packets passed by the filter, dropped.
    pub packets: u64,
    pub drops: u64,
}

impl PacketSocket {
    /// Opens the socket on `interface` (None: every interface), filtered by `filter`, reads timing out after
    /// `wait` so that the caller can check whether to stop.
    pub fn open(interface: Option<&str>, filter: &[Instruction], wait: Duration) -> Result<PacketSocket, OpenError> {
        // SAFETY: plain system calls on a descriptor this function owns; every pointer passed points to a live
        // local of the size given.
        unsafe {
            let raw =
                libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, i32::from(ETH_P_ALL.to_be()));
            if raw < 0 {
                let error = io::Error::last_os_error();
                return Err(match error.raw_os_error() {
                    Some(libc::EPERM) | Some(libc::EACCES) => OpenError::Permission {
                        binary: std::env::current_exe()
                            .map_or_else(|_| "$(command -v cachescope)".into(), |p| p.display().to_string()),
                    },
                    _ => OpenError::Other(error),
                });
            }
            let fd = OwnedFd::from_raw_fd(raw);
            let program =
                libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr() as *mut libc::sock_filter };
            set_option(raw, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &program).map_err(OpenError::Other)?;
            // Root may raise the buffer past the system's maximum; others get what the maximum allows.
            for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
                if set_option(raw, libc::SOL_SOCKET, option, &RECEIVE_BUFFER).is_ok() {
                    break;
                }
            }
            let timeout = libc::timeval { tv_sec: wait.as_secs() as libc::time_t, tv_usec: wait.subsec_micros() as _ };
            set_option(raw, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout).map_err(OpenError::Other)?;
            let index = |name: &str| {
                let name = std::ffi::CString::new(name).ok()?;
                let index = libc::if_nametoindex(name.as_ptr());
                (index != 0).then_some(index as libc::c_int)
            };
            if let Some(name) = interface.filter(|name| *name != "any") {
                let ifindex = index(name).ok_or_else(|| OpenError::NoInterface(name.to_string()))?;
                let mut address: libc::sockaddr_ll = std::mem::zeroed();
                address.sll_family = libc::AF_PACKET as u16;
                address.sll_protocol = ETH_P_ALL.to_be();
                address.sll_ifindex = ifindex;
                check(libc::bind(
                    raw,
                    (&address as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                ))
                .map_err(OpenError::Other)?;
            }
            let loopback = index("lo").unwrap_or(-1);
            // On loopback every packet is both sent and received: have the kernel hand over one copy only.
            // (Elsewhere the packets this host sends are traffic too: a client here, the server away.)
            if interface == Some("lo") {
                let _ = set_option(raw, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, &1 as &libc::c_int);
            }
            Ok(PacketSocket { fd, loopback, packets: 0, drops: 0 })
        }
    }

    /// Receives one packet into `buffer`; None when the wait ran out.
    pub fn receive(&self, buffer: &mut [u8]) -> io::Result<Option<Received>> {
        // SAFETY: `buffer` and `address` are live and their sizes are given.
        unsafe {
            let mut address: libc::sockaddr_ll = std::mem::zeroed();
            let mut length = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            let read = libc::recvfrom(
                self.fd.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                libc::MSG_TRUNC,
                (&mut address as *mut libc::sockaddr_ll).cast(),
                &mut length,
            );
            if read < 0 {
                let error = io::Error::last_os_error();
                return match error.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted => Ok(None),
                    _ => Err(error),
                };
            }
            Ok(Some(Received {
                len: (read as usize).min(buffer.len()),
                protocol: u16::from_be(address.sll_protocol),
                looped_back_copy: address.sll_ifindex == self.loopback && address.sll_pkttype == libc::PACKET_OUTGOING,
            }))
        }
    }

    /// Adds the kernel's counts since the last reading to `packets` and `drops`.
    pub fn read_statistics(&mut self) {
        // SAFETY: `stats` is live and its size is given.
        unsafe {
            let mut stats: libc::tpacket_stats = std::mem::zeroed();
            let mut length = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
            if libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut stats as *mut libc::tpacket_stats).cast(),
                &mut length,
            ) == 0
            {
                self.packets += u64::from(stats.tp_packets);
                self.drops += u64::from(stats.tp_drops);
            }
        }
    }
}

fn check(result: libc::c_int) -> io::Result<()> {
    if result < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Sets a socket option to `value`, a plain C value of the type the option takes.
///
/// SAFETY: `fd` must be an open socket, and `T` the type the kernel expects for `option`.
unsafe fn set_option<T>(fd: libc::c_int, level: libc::c_int, option: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is live for the call and its size is given.
    check(unsafe {
        libc::setsockopt(fd, level, option, (value as *const T).cast(), std::mem::size_of::<T>() as libc::socklen_t)
    })
}
