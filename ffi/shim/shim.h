/*
 * shim.h - exported wrappers around DPDK's static-inline and macro-only API.
 *
 * DPDK defines its hottest functions (rx/tx burst, mbuf alloc/free, lcore id) as
 * `static inline` in headers, so they have no symbol to link against. Each function here
 * is a one-line wrapper compiled with DPDK's own cflags (pkg-config, incl. -march) and -O3,
 * so a call costs one direct call plus the inlined DPDK body. Constants that DPDK defines
 * through function-like macros (RTE_BIT64) are re-exported as enums/consts bindgen can read.
 */
#ifndef DP_SHIM_H
#define DP_SHIM_H

#include <stdint.h>
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_bus.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_lpm.h>
#include <rte_malloc.h>
#include <rte_ring.h>
#include <rte_version.h>

/* rte_errno is a per-lcore thread-local; read it through a function. */
int shim_rte_errno(void);

unsigned shim_rte_lcore_id(void);

/* Ethernet device bursts (rte_ethdev.h, static inline). */
uint16_t shim_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
                               struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t shim_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
                               struct rte_mbuf **tx_pkts, uint16_t nb_pkts);

/* Mbuf life cycle (rte_mbuf.h, static inline). */
struct rte_mbuf *shim_rte_pktmbuf_alloc(struct rte_mempool *mp);
void shim_rte_pktmbuf_free(struct rte_mbuf *m);

/* Data room edits (rte_mbuf.h, static inline). Return NULL / -1 when out of room. */
char *shim_rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *shim_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *shim_rte_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int shim_rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
uint16_t shim_rte_pktmbuf_tailroom(const struct rte_mbuf *m);
int shim_rte_pktmbuf_linearize(struct rte_mbuf *m);

/* LPM lookups (rte_lpm.h, static inline): for comparing our FIB with DPDK's. */
int shim_rte_lpm_lookup_bulk(const struct rte_lpm *lpm, const uint32_t *ips,
                             uint32_t *next_hops, unsigned n);

/* Mempool (rte_mempool.h, static inline). */
unsigned shim_rte_mempool_avail_count(const struct rte_mempool *mp);

/* Ethernet offload capability bits (RTE_BIT64 macros in rte_ethdev.h). */
static const uint64_t SHIM_RX_OFFLOAD_IPV4_CKSUM = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
static const uint64_t SHIM_RX_OFFLOAD_UDP_CKSUM = RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
static const uint64_t SHIM_RX_OFFLOAD_TCP_CKSUM = RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
static const uint64_t SHIM_RX_OFFLOAD_OUTER_IPV4_CKSUM = RTE_ETH_RX_OFFLOAD_OUTER_IPV4_CKSUM;
static const uint64_t SHIM_RX_OFFLOAD_OUTER_UDP_CKSUM = RTE_ETH_RX_OFFLOAD_OUTER_UDP_CKSUM;
static const uint64_t SHIM_RX_OFFLOAD_RSS_HASH = RTE_ETH_RX_OFFLOAD_RSS_HASH;
static const uint64_t SHIM_TX_OFFLOAD_IPV4_CKSUM = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
static const uint64_t SHIM_TX_OFFLOAD_UDP_CKSUM = RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
static const uint64_t SHIM_TX_OFFLOAD_TCP_CKSUM = RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
static const uint64_t SHIM_TX_OFFLOAD_OUTER_IPV4_CKSUM = RTE_ETH_TX_OFFLOAD_OUTER_IPV4_CKSUM;
static const uint64_t SHIM_TX_OFFLOAD_OUTER_UDP_CKSUM = RTE_ETH_TX_OFFLOAD_OUTER_UDP_CKSUM;
static const uint64_t SHIM_TX_OFFLOAD_VXLAN_TNL_TSO = RTE_ETH_TX_OFFLOAD_VXLAN_TNL_TSO;
static const uint64_t SHIM_TX_OFFLOAD_MBUF_FAST_FREE = RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
static const uint64_t SHIM_TX_OFFLOAD_MULTI_SEGS = RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
static const uint64_t SHIM_RSS_IP = RTE_ETH_RSS_IP;
static const uint64_t SHIM_RSS_UDP = RTE_ETH_RSS_UDP;
static const uint64_t SHIM_RSS_TCP = RTE_ETH_RSS_TCP;

/* Mbuf offload flags (RTE_BIT64 or shifted literals in rte_mbuf_core.h). */
static const uint64_t SHIM_MBUF_F_RX_IP_CKSUM_MASK = RTE_MBUF_F_RX_IP_CKSUM_MASK;
static const uint64_t SHIM_MBUF_F_RX_IP_CKSUM_GOOD = RTE_MBUF_F_RX_IP_CKSUM_GOOD;
static const uint64_t SHIM_MBUF_F_RX_IP_CKSUM_BAD = RTE_MBUF_F_RX_IP_CKSUM_BAD;
static const uint64_t SHIM_MBUF_F_RX_L4_CKSUM_MASK = RTE_MBUF_F_RX_L4_CKSUM_MASK;
static const uint64_t SHIM_MBUF_F_RX_L4_CKSUM_GOOD = RTE_MBUF_F_RX_L4_CKSUM_GOOD;
static const uint64_t SHIM_MBUF_F_RX_L4_CKSUM_BAD = RTE_MBUF_F_RX_L4_CKSUM_BAD;
static const uint64_t SHIM_MBUF_F_RX_RSS_HASH = RTE_MBUF_F_RX_RSS_HASH;
static const uint64_t SHIM_MBUF_F_TX_IPV4 = RTE_MBUF_F_TX_IPV4;
static const uint64_t SHIM_MBUF_F_TX_IPV6 = RTE_MBUF_F_TX_IPV6;
static const uint64_t SHIM_MBUF_F_TX_IP_CKSUM = RTE_MBUF_F_TX_IP_CKSUM;
static const uint64_t SHIM_MBUF_F_TX_UDP_CKSUM = RTE_MBUF_F_TX_UDP_CKSUM;
static const uint64_t SHIM_MBUF_F_TX_TCP_CKSUM = RTE_MBUF_F_TX_TCP_CKSUM;
static const uint64_t SHIM_MBUF_F_TX_OUTER_IPV4 = RTE_MBUF_F_TX_OUTER_IPV4;
static const uint64_t SHIM_MBUF_F_TX_OUTER_IP_CKSUM = RTE_MBUF_F_TX_OUTER_IP_CKSUM;
static const uint64_t SHIM_MBUF_F_TX_OUTER_UDP_CKSUM = RTE_MBUF_F_TX_OUTER_UDP_CKSUM;
static const uint64_t SHIM_MBUF_F_TX_TUNNEL_VXLAN = RTE_MBUF_F_TX_TUNNEL_VXLAN;

#endif /* DP_SHIM_H */
