//! Attacks on interpretable deep learning systems (spec sections 3-8). So far: the Sobel edge
//! weights that distinguish AdvEdge / AdvEdge+ from ADV2. The attack loops are still to come.

pub mod edges;
