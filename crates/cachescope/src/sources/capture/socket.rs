//! A Linux packet socket (`AF_PACKET`, cooked: packets from the network header on) with the cache ports' BPF
//! filter attached, so that the kernel copies only cache traffic, and the kernel's own count of what it dropped
//! (`PACKET_STATISTICS`). It needs `CAP_NET_RAW` (root, or `setcap`).
//!
//! Packets arrive in a ring shared with the kernel (`PACKET_RX_RING`, `TPACKET_V3`): the kernel fills blocks of
//! packets and hands each over whole, when full or after [`BLOCK_TIMEOUT_MS`], so that one system call (a
//! `poll` when the ring is empty) serves thousands of packets instead of one `recvfrom` each, and nothing is
//! copied a second time.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use cachescope_capture::bpf::Instruction;

const ETH_P_ALL: u16 = 0x0003;
/// `PACKET_IGNORE_OUTGOING` (Linux 4.20), which the libc crate does not name.
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
/// The ring: room for bursts while the analysis catches up (64 MiB, what a receive buffer had before).
const BLOCK_SIZE: u32 = 1 << 20;
const BLOCKS: u32 = 64;
/// A frame size the kernel checks the block size against; packets in a block are packed whatever it is.
const FRAME_SIZE: u32 = 1 << 11;
/// A block not full is handed over after this long: the most a packet waits in the ring.
const BLOCK_TIMEOUT_MS: u32 = 10;

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

/// One received packet (its bytes aside): when, the network protocol (`0x0800` IPv4, `0x86dd` IPv6) and whether it was
/// this host sending it on the loopback device (which shows every packet twice).
pub struct Received {
    /// When the kernel received it, in microseconds since the Unix epoch.
    pub time: u64,
    pub protocol: u16,
    pub looped_back_copy: bool,
}

pub struct PacketSocket {
    fd: OwnedFd,
    ring: Ring,
    loopback: libc::c_int,
    /// The kernel's counts so far (it resets its own on each reading): packets passed by the filter, dropped.
    pub packets: u64,
    pub drops: u64,
}

impl PacketSocket {
    /// Opens the socket on `interface` (None: every interface), filtered by `filter`.
    pub fn open(interface: Option<&str>, filter: &[Instruction]) -> Result<PacketSocket, OpenError> {
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
            let ring = Ring::map(raw).map_err(OpenError::Other)?;
            Ok(PacketSocket { fd, ring, loopback, packets: 0, drops: 0 })
        }
    }

    /// Hands every packet of the next block the kernel filled to `each`, waiting for one at most `wait`; false
    /// when none came.
    pub fn receive(&mut self, wait: Duration, mut each: impl FnMut(Received, &[u8])) -> io::Result<bool> {
        if !self.ring.ready() {
            let mut poll = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN | libc::POLLERR, revents: 0 };
            // SAFETY: one live pollfd.
            let polled = unsafe { libc::poll(&mut poll, 1, wait.as_millis().min(i32::MAX as u128) as libc::c_int) };
            if polled < 0 {
                let error = io::Error::last_os_error();
                return if error.kind() == io::ErrorKind::Interrupted { Ok(false) } else { Err(error) };
            }
            if !self.ring.ready() {
                return Ok(false);
            }
        }
        let loopback = self.loopback;
        self.ring.take_block(|header, address, data| {
            let received = Received {
                time: u64::from(header.tp_sec) * 1_000_000 + u64::from(header.tp_nsec) / 1_000,
                protocol: u16::from_be(address.sll_protocol),
                looped_back_copy: address.sll_ifindex == loopback && address.sll_pkttype == libc::PACKET_OUTGOING,
            };
            each(received, data)
        });
        Ok(true)
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

/// The receive ring, mapped into this process: [`BLOCKS`] blocks that the kernel and this side pass back and
/// forth through each block's status word.
struct Ring {
    base: *mut u8,
    /// The block to read next.
    next: u32,
}

// SAFETY: the mapping belongs to the ring alone, whichever thread holds it.
unsafe impl Send for Ring {}

impl Ring {
    /// Asks for `TPACKET_V3` and the ring on socket `fd`, and maps it.
    ///
    /// SAFETY: `fd` must be an open packet socket, which must outlive the ring.
    unsafe fn map(fd: libc::c_int) -> io::Result<Ring> {
        let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        // SAFETY: the options take these types.
        unsafe {
            set_option(fd, libc::SOL_PACKET, libc::PACKET_VERSION, &version)?;
            let request = libc::tpacket_req3 {
                tp_block_size: BLOCK_SIZE,
                tp_block_nr: BLOCKS,
                tp_frame_size: FRAME_SIZE,
                tp_frame_nr: BLOCK_SIZE / FRAME_SIZE * BLOCKS,
                tp_retire_blk_tov: BLOCK_TIMEOUT_MS,
                tp_sizeof_priv: 0,
                tp_feature_req_word: 0,
            };
            set_option(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &request)?;
            let base = libc::mmap(
                std::ptr::null_mut(),
                (BLOCK_SIZE * BLOCKS) as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            if base == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            Ok(Ring { base: base.cast(), next: 0 })
        }
    }

    fn block(&self) -> *mut libc::tpacket_block_desc {
        // SAFETY: `next` < BLOCKS: the block lies inside the mapping.
        unsafe { self.base.add((self.next * BLOCK_SIZE) as usize).cast() }
    }

    /// The status word of the next block, which the kernel writes.
    fn status(&self) -> *mut u32 {
        // SAFETY: a field of a block inside the mapping.
        unsafe { std::ptr::addr_of_mut!((*self.block()).hdr.bh1.block_status) }
    }

    /// Whether the kernel handed the next block over.
    fn ready(&self) -> bool {
        // SAFETY: an aligned word of the mapping, read as the kernel may write it.
        let status = unsafe { std::ptr::read_volatile(self.status()) };
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        status & libc::TP_STATUS_USER != 0
    }

    /// Hands each packet of the next block (which must be [`Ring::ready`]) to `each`, then gives the block back.
    fn take_block(&mut self, mut each: impl FnMut(&libc::tpacket3_hdr, &libc::sockaddr_ll, &[u8])) {
        let block = self.block();
        // SAFETY: the block is this side's until its status is set back: the kernel wrote every packet header,
        // address and data inside it, at the offsets it gave.
        unsafe {
            let header = &(*block).hdr.bh1;
            let mut packet = block.cast::<u8>().add(header.offset_to_first_pkt as usize);
            let end = block.cast::<u8>().add(BLOCK_SIZE as usize);
            for _ in 0..header.num_pkts {
                let frame = &*packet.cast::<libc::tpacket3_hdr>();
                let address_at = (std::mem::size_of::<libc::tpacket3_hdr>() + libc::TPACKET_ALIGNMENT - 1)
                    & !(libc::TPACKET_ALIGNMENT - 1);
                let address = &*packet.add(address_at).cast::<libc::sockaddr_ll>();
                let data = packet.add(usize::from(frame.tp_net));
                let length = (frame.tp_snaplen as usize).min(end.offset_from(data).max(0) as usize);
                each(frame, address, std::slice::from_raw_parts(data, length));
                if frame.tp_next_offset == 0 {
                    break;
                }
                packet = packet.add(frame.tp_next_offset as usize);
            }
            std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
            std::ptr::write_volatile(self.status(), libc::TP_STATUS_KERNEL);
        }
        self.next = (self.next + 1) % BLOCKS;
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once.
        unsafe {
            libc::munmap(self.base.cast(), (BLOCK_SIZE * BLOCKS) as usize);
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
