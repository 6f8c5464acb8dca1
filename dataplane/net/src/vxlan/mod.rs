//! VXLAN: the vxlan-encap and vxlan-decap nodes.
