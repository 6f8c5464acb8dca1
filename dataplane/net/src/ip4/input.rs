//! ip4-input: validates IPv4 headers before anything trusts them.
//!
//! Reads: the IPv4 header at the start of the data; the NIC's checksum verdict.
//! Checks: version, IHL, total length against the frame, header checksum (unless the NIC
//! already verified it). Trims Ethernet padding past the total length.
//! Sets: `F_IP4_CSUM_OK`. (The flow hash is computed later, only by the nodes that need one:
//! [`packet_flow_hash`].)
//! Next: `ip4-lookup`, or `drop` by reason.

use crate::buffer::{CsumStatus, PacketBuf, PacketMeta};
use crate::graph::{Nexts, Node, NodeCtx, Vector};
use crate::wire::checksum;

crate::arcs! {
    pub enum Ip4InputNext { Drop => "drop", Lookup => "ip4-lookup" }
}

crate::errors! {
    pub enum Ip4InputError {
        Truncated => "IPv4 header truncated",
        BadVersion => "IP version is not 4",
        BadIhl => "IPv4 header length below 20 bytes",
        BadTotalLength => "IPv4 total length disagrees with the frame",
        BadChecksum => "IPv4 header checksum wrong",
    }
}

/// The ip4-input node.
#[derive(Debug, Default)]
pub struct Ip4Input;

/// A flow hash of an IPv4 packet's addresses, protocol and (first fragment) ports. Cheap and
/// well mixed: it picks ECMP paths and VXLAN source ports.
#[inline(always)]
pub fn flow_hash(d: &[u8], ihl: usize) -> u32 {
    let src = u32::from_be_bytes([d[12], d[13], d[14], d[15]]);
    let dst = u32::from_be_bytes([d[16], d[17], d[18], d[19]]);
    let proto = d[9];
    let first_frag = u16::from_be_bytes([d[6], d[7]]) & 0x1fff == 0;
    let ports = if first_frag && matches!(proto, 6 | 17 | 132) && d.len() >= ihl + 4 {
        u32::from_be_bytes([d[ihl], d[ihl + 1], d[ihl + 2], d[ihl + 3]])
    } else {
        0
    };
    let mut h = (u64::from(src) << 32 | u64::from(dst)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^= (u64::from(ports) << 8 | u64::from(proto)).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    h ^= h >> 29;
    (h ^ (h >> 32)) as u32
}

impl<B: PacketBuf> Node<B> for Ip4Input {
    fn name(&self) -> &'static str {
        "ip4-input"
    }
    fn arcs(&self) -> &'static [&'static str] {
        Ip4InputNext::TARGETS
    }
    fn errors(&self) -> &'static [&'static str] {
        Ip4InputError::NAMES
    }

    fn process(&mut self, pkts: &mut Vector<B>, next: &mut Nexts, ctx: &mut NodeCtx<'_, B>) {
        for (p, nx) in pkts.iter_mut().zip(next.iter_mut()) {
            *nx = match check(p) {
                Ok(()) => Ip4InputNext::Lookup.arc(),
                Err(e) => {
                    ctx.count(e.idx());
                    Ip4InputNext::Drop.arc()
                }
            };
        }
    }
}

#[inline(always)]
fn check<B: PacketBuf>(p: &mut B) -> Result<(), Ip4InputError> {
    // After decapsulation the NIC's verdict describes the outer packet.
    let verdict = if p.meta().decap_depth > 0 {
        CsumStatus::Unknown
    } else {
        p.rx_ip_csum()
    };
    let d = p.data();
    let len = d.len();
    let Some(h) = d.first_chunk::<20>() else {
        return Err(Ip4InputError::Truncated);
    };
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if h[0] == 0x45 {
        // The common case: no options. One header-sized load feeds every check.
        if total < 20 || total > len {
            return Err(Ip4InputError::BadTotalLength);
        }
        match verdict {
            CsumStatus::Good => {}
            CsumStatus::Bad => return Err(Ip4InputError::BadChecksum),
            CsumStatus::Unknown => {
                if checksum::sum20(h) != 0xffff {
                    return Err(Ip4InputError::BadChecksum);
                }
            }
        }
    } else {
        if h[0] >> 4 != 4 {
            return Err(Ip4InputError::BadVersion);
        }
        let ihl = usize::from(h[0] & 0xf) * 4;
        if ihl < 20 {
            return Err(Ip4InputError::BadIhl);
        }
        if len < ihl {
            return Err(Ip4InputError::Truncated);
        }
        if total < ihl || total > len {
            return Err(Ip4InputError::BadTotalLength);
        }
        match verdict {
            CsumStatus::Good => {}
            CsumStatus::Bad => return Err(Ip4InputError::BadChecksum),
            CsumStatus::Unknown => {
                if !checksum::verifies(&d[..ihl]) {
                    return Err(Ip4InputError::BadChecksum);
                }
            }
        }
    }
    if total < len {
        // Ethernet padding.
        p.truncate(total);
    }
    p.meta_mut().flags |= PacketMeta::F_IP4_CSUM_OK;
    Ok(())
}

/// The packet's flow hash for ECMP and VXLAN source ports: the one already in its metadata,
/// else the NIC's RSS hash (not after decapsulation: it hashed the outer packet), else
/// [`flow_hash`] of its IPv4 header, which starts the data. Computed by the nodes that need
/// it, so plain routing never pays for it.
#[inline(always)]
pub fn packet_flow_hash<B: PacketBuf>(p: &B) -> u32 {
    let m = p.meta();
    if m.flow_hash != 0 {
        return m.flow_hash;
    }
    if m.decap_depth == 0
        && let Some(h) = p.rx_rss_hash()
    {
        return h;
    }
    let d = p.data();
    if d.len() < 20 {
        return 0;
    }
    flow_hash(d, usize::from(d[0] & 0xf) * 4)
}
