/*
 * shim.c - see shim.h. Every function is a direct wrapper; keep them that way so the cost
 * stays one call and the semantics stay exactly DPDK's.
 */
#include "shim.h"

int shim_rte_errno(void) { return rte_errno; }
unsigned shim_rte_lcore_id(void) { return rte_lcore_id(); }

uint16_t shim_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
                               struct rte_mbuf **rx_pkts, uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t shim_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
                               struct rte_mbuf **tx_pkts, uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

struct rte_mbuf *shim_rte_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

void shim_rte_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

char *shim_rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_prepend(m, len); }
char *shim_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }
char *shim_rte_pktmbuf_adj(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_adj(m, len); }
int shim_rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_trim(m, len); }
uint16_t shim_rte_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }
int shim_rte_pktmbuf_linearize(struct rte_mbuf *m) { return rte_pktmbuf_linearize(m); }

unsigned shim_rte_mempool_avail_count(const struct rte_mempool *mp) { return rte_mempool_avail_count(mp); }

int shim_rte_lpm_lookup_bulk(const struct rte_lpm *lpm, const uint32_t *ips,
                             uint32_t *next_hops, unsigned n)
{
	return rte_lpm_lookup_bulk(lpm, ips, next_hops, n);
}
