//! ARP: the arp-input node and ARP request construction.
