"""Motion-capture import: BVH datasets (name mappings, conversion, checks) and AIST++ motions."""
