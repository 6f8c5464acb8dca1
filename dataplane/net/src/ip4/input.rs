//! ip4-input: validates IPv4 headers before anything trusts them.
//!
//! Reads: the IPv4 header at the start of the data; the NIC's checksum verdict.
//! Checks: version, IHL, total length against the frame, header checksum (unless the NIC
//! already verified it). Trims Ethernet padding past the total length.
//! Sets: `meta.flow_hash` (the NIC's RSS hash, else a hash of addresses, protocol and ports),
//! `F_IP4_CSUM_OK`.
//! Next: `ip4-lookup`, or `drop` by reason.

use crate::buffer::{CsumStatus, PacketBuf, PacketMeta, RxOffload};
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
        let n = pkts.len();
        for i in 0..n {
            if let Some(p) = pkts.get(i + 2) {
                p.prefetch();
            }
            next[i] = match check(&mut pkts[i]) {
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
    // After decapsulation the NIC's verdicts (and RSS hash) describe the outer packet.
    let rx = if p.meta().decap_depth > 0 {
        RxOffload::default()
    } else {
        p.rx_offload()
    };
    let d = p.data();
    if d.len() < 20 {
        return Err(Ip4InputError::Truncated);
    }
    if d[0] >> 4 != 4 {
        return Err(Ip4InputError::BadVersion);
    }
    let ihl = ((d[0] & 0xf) as usize) * 4;
    if ihl < 20 {
        return Err(Ip4InputError::BadIhl);
    }
    if d.len() < ihl {
        return Err(Ip4InputError::Truncated);
    }
    let total = u16::from_be_bytes([d[2], d[3]]) as usize;
    if total < ihl || total > d.len() {
        return Err(Ip4InputError::BadTotalLength);
    }
    match rx.ip {
        CsumStatus::Good => {}
        CsumStatus::Bad => return Err(Ip4InputError::BadChecksum),
        CsumStatus::Unknown => {
            if !checksum::verifies(&d[..ihl]) {
                return Err(Ip4InputError::BadChecksum);
            }
        }
    }
    let hash = rx.rss_hash.unwrap_or_else(|| flow_hash(d, ihl));
    let pad = d.len() - total;
    if pad > 0 {
        p.truncate(total);
    }
    let m = p.meta_mut();
    m.flow_hash = hash;
    m.flags |= PacketMeta::F_IP4_CSUM_OK;
    Ok(())
}
