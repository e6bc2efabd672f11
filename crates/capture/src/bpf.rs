//! The kernel-side filter of a live capture: a classic BPF program that keeps TCP segments from or to the cache's
//! ports and drops everything else before it is copied to the capture, so that a busy host hands over only cache
//! traffic. It reads packets from the network header on (a cooked, `SOCK_DGRAM` packet socket): IPv4 (first
//! fragments only, which carry the ports) and IPv6 (TCP as the first next header). An IPv6 packet with extension
//! headers before its TCP header (hop-by-hop, routing, fragment, destination options) is kept whatever its
//! ports: walking a chain of headers is more than a filter without loops should do, such packets are rare, and
//! the capture itself skips those not for the cache (a filter that dropped them would lose cache traffic
//! silently).

/// One instruction, as `struct sock_filter` lays it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Instruction {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const LDB_ABS: u16 = 0x30;
const LDH_ABS: u16 = 0x28;
const LDH_IND: u16 = 0x48;
const LDXB_MSH: u16 = 0xb1;
const RSH_K: u16 = 0x74;
const JEQ_K: u16 = 0x15;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

/// Bytes of each accepted packet handed over: all of it (loopback segments reach 64 KiB, GSO more).
const SNAPLEN: u32 = 262_144;

#[derive(Clone, Copy, PartialEq)]
enum Target {
    Next,
    Accept,
    Drop,
    Ipv6,
}

/// Keeps TCP from or to any of `ports`.
pub fn port_filter(ports: &[u16]) -> Vec<Instruction> {
    let mut code: Vec<(u16, Target, Target, u32)> = Vec::new();
    let jump_on_ports = |code: &mut Vec<_>| {
        for &port in ports {
            code.push((JEQ_K, Target::Accept, Target::Next, u32::from(port)));
        }
    };
    code.push((LDB_ABS, Target::Next, Target::Next, 0));
    code.push((RSH_K, Target::Next, Target::Next, 4));
    code.push((JEQ_K, Target::Next, Target::Ipv6, 4));
    // IPv4: TCP, not a later fragment, then the ports after the header (its length from IHL).
    code.push((LDB_ABS, Target::Next, Target::Next, 9));
    code.push((JEQ_K, Target::Next, Target::Drop, 6));
    code.push((LDH_ABS, Target::Next, Target::Next, 6));
    code.push((JSET_K, Target::Drop, Target::Next, 0x1fff));
    code.push((LDXB_MSH, Target::Next, Target::Next, 0));
    code.push((LDH_IND, Target::Next, Target::Next, 0));
    jump_on_ports(&mut code);
    code.push((LDH_IND, Target::Next, Target::Next, 2));
    jump_on_ports(&mut code);
    code.push((RET_K, Target::Next, Target::Next, 0));
    // IPv6: TCP right after the fixed 40-byte header, or extension headers first (kept, see above).
    let ipv6_at = code.len();
    code.push((JEQ_K, Target::Next, Target::Drop, 6));
    code.push((LDB_ABS, Target::Next, Target::Next, 6));
    for extension in IPV6_EXTENSIONS {
        code.push((JEQ_K, Target::Accept, Target::Next, u32::from(extension)));
    }
    code.push((JEQ_K, Target::Next, Target::Drop, 6));
    code.push((LDH_ABS, Target::Next, Target::Next, 40));
    jump_on_ports(&mut code);
    code.push((LDH_ABS, Target::Next, Target::Next, 42));
    jump_on_ports(&mut code);
    let drop_at = code.len();
    code.push((RET_K, Target::Next, Target::Next, 0));
    let accept_at = code.len();
    code.push((RET_K, Target::Next, Target::Next, SNAPLEN));
    let offset = |at: usize, target: Target| -> u8 {
        let to = match target {
            Target::Next => at + 1,
            Target::Accept => accept_at,
            Target::Drop => drop_at,
            Target::Ipv6 => ipv6_at,
        };
        u8::try_from(to - at - 1).expect("jumps stay short for the ports a capture follows")
    };
    code.iter()
        .enumerate()
        .map(|(at, &(op, jt, jf, k))| Instruction { code: op, jt: offset(at, jt), jf: offset(at, jf), k })
        .collect()
}

/// IPv6 extension headers that may come before TCP: hop-by-hop options, routing, fragment, destination options.
const IPV6_EXTENSIONS: [u8; 4] = [0, 43, 44, 60];

/// Ports at most in one filter: each costs four instructions, and jumps must stay within 255.
pub const MAX_PORTS: usize = 50;

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `program` on `packet` as the kernel would (the instructions used here only): bytes kept.
    fn run(program: &[Instruction], packet: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let byte = |at: usize| packet.get(at).map(|&b| u32::from(b));
        let half = |at: usize| Some((byte(at)? << 8) | byte(at + 1)?);
        loop {
            let i = program[pc];
            pc += 1;
            match i.code {
                LDB_ABS => match byte(i.k as usize) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LDH_ABS => match half(i.k as usize) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LDH_IND => match half((x + i.k) as usize) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LDXB_MSH => match byte(i.k as usize) {
                    Some(v) => x = 4 * (v & 0xf),
                    None => return 0,
                },
                RSH_K => a >>= i.k,
                JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                JSET_K => pc += usize::from(if a & i.k != 0 { i.jt } else { i.jf }),
                RET_K => return i.k,
                other => panic!("unexpected instruction {other:#x}"),
            }
        }
    }

    fn ipv4(protocol: u8, fragment: u16, ports: (u16, u16), options: usize) -> Vec<u8> {
        let ihl = 5 + options / 4;
        let mut p = vec![0u8; ihl * 4 + 20];
        p[0] = 0x40 | ihl as u8;
        p[6..8].copy_from_slice(&fragment.to_be_bytes());
        p[9] = protocol;
        p[ihl * 4..ihl * 4 + 2].copy_from_slice(&ports.0.to_be_bytes());
        p[ihl * 4 + 2..ihl * 4 + 4].copy_from_slice(&ports.1.to_be_bytes());
        p
    }

    fn ipv6(next: u8, ports: (u16, u16)) -> Vec<u8> {
        let mut p = vec![0u8; 60];
        p[0] = 0x60;
        p[6] = next;
        p[40..42].copy_from_slice(&ports.0.to_be_bytes());
        p[42..44].copy_from_slice(&ports.1.to_be_bytes());
        p
    }

    #[test]
    fn keeps_tcp_to_and_from_the_ports_and_nothing_else() {
        let program = port_filter(&[6379, 6380]);
        let kept = |packet: &[u8]| run(&program, packet) > 0;
        assert!(kept(&ipv4(6, 0, (50000, 6379), 0)));
        assert!(kept(&ipv4(6, 0, (6380, 50000), 0)));
        assert!(kept(&ipv4(6, 0x4000, (50000, 6379), 12)), "don't-fragment set, options in the header");
        assert!(!kept(&ipv4(6, 0, (50000, 6381), 0)));
        assert!(!kept(&ipv4(17, 0, (50000, 6379), 0)), "UDP");
        assert!(!kept(&ipv4(6, 0x0010, (50000, 6379), 0)), "a later fragment");
        assert!(kept(&ipv6(6, (50000, 6379))));
        assert!(kept(&ipv6(6, (6380, 1))));
        assert!(!kept(&ipv6(17, (50000, 6379))));
        // Extension headers before TCP: kept, for the capture to look at the ports.
        for extension in [0, 43, 44, 60] {
            assert!(kept(&ipv6(extension, (0, 0))), "next header {extension}");
        }
        assert!(!kept(&ipv6(58, (50000, 6379))), "ICMPv6");
        assert!(!kept(&ipv6(6, (1, 2))));
        assert!(!kept(&[0x45]), "cut short");
        assert!(!kept(&[]));
    }

    #[test]
    fn fifty_ports_still_fit_the_jumps() {
        let ports: Vec<u16> = (7000..7000 + MAX_PORTS as u16).collect();
        let program = port_filter(&ports);
        assert!(run(&program, &ipv4(6, 0, (1, 7049), 0)) > 0);
        assert!(run(&program, &ipv6(6, (7000, 1))) > 0);
        assert_eq!(run(&program, &ipv4(6, 0, (1, 7050), 0)), 0);
    }
}
