//! Element-wise loops split over the rayon pool (advedge patch).
//!
//! Upstream runs unary, scalar and zipped binary loops on the calling thread below 4M elements, so
//! with two threads every activation-sized op of a small CNN (ReLU, batch norm's broadcasts, the
//! gradients' masks and sums: 80K-330K elements at ResNet-20's shapes) kept the second thread
//! idle. These helpers split such a loop into contiguous chunks above [`THRESHOLD`] elements.
//! Each element is still computed by the same operation on the same inputs, so results are the
//! same bit for bit whatever the split; only which thread computes an element changes.

/// Elements from which an element-wise loop is split over the pool (and the pool has more than
/// one thread). At ~1 ns per element, 64K elements is ~60 us: well above a rayon join.
pub(crate) const THRESHOLD: usize = 64 * 1024;

/// Whether a loop over `n` elements is split.
#[inline]
pub(crate) fn worth(n: usize) -> bool {
    #[cfg(feature = "rayon")]
    {
        n >= THRESHOLD && rayon::current_num_threads() > 1
    }
    #[cfg(not(feature = "rayon"))]
    {
        let _ = n;
        false
    }
}

/// Pieces per pool thread a split loop is cut into, for balance when a thread is late.
#[cfg(feature = "rayon")]
pub(crate) fn pieces() -> usize {
    4 * rayon::current_num_threads()
}

/// Chunk length for `n` elements: [`pieces`] chunks of at least 4096 elements.
#[cfg(feature = "rayon")]
fn chunk_len(n: usize) -> usize {
    n.div_ceil(pieces()).max(4096)
}

/// `x = op(x)` for every element.
#[inline]
pub(crate) fn map_inplace<E: Copy + Send, Op: Fn(E) -> E + Sync>(s: &mut [E], op: Op) {
    #[cfg(feature = "rayon")]
    if worth(s.len()) {
        use rayon::prelude::*;
        let c = chunk_len(s.len());
        s.par_chunks_mut(c).for_each(|s| s.iter_mut().for_each(|x| *x = op(*x)));
        return;
    }
    s.iter_mut().for_each(|x| *x = op(*x));
}

/// `op(x)` for every element, in order, into a new vector.
#[inline]
pub(crate) fn map_collect<E: Copy + Sync, R: Send, Op: Fn(E) -> R + Sync>(s: &[E], op: Op) -> Vec<R> {
    #[cfg(feature = "rayon")]
    if worth(s.len()) {
        use rayon::prelude::*;
        let c = chunk_len(s.len());
        // Indexed parallel iterators collect in order.
        return s.par_iter().with_min_len(c).map(|&x| op(x)).collect();
    }
    s.iter().map(|&x| op(x)).collect()
}

/// `d = op(d, s)` for every pair of elements of two equally long slices.
#[inline]
pub(crate) fn zip_inplace<D: Copy + Send, S: Copy + Sync, Op: Fn(D, S) -> D + Sync>(d: &mut [D], s: &[S], op: Op) {
    debug_assert_eq!(d.len(), s.len());
    #[cfg(feature = "rayon")]
    if worth(d.len()) {
        use rayon::prelude::*;
        let c = chunk_len(d.len());
        d.par_chunks_mut(c).zip(s.par_chunks(c)).for_each(|(d, s)| {
            d.iter_mut().zip(s).for_each(|(d, &s)| *d = op(*d, s));
        });
        return;
    }
    d.iter_mut().zip(s).for_each(|(d, &s)| *d = op(*d, s));
}

/// `op(a, b)` for every pair of elements of two equally long slices, in order, into a new vector.
#[inline]
pub(crate) fn zip_collect<A: Copy + Sync, B: Copy + Sync, R: Send, Op: Fn(A, B) -> R + Sync>(a: &[A], b: &[B], op: Op) -> Vec<R> {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(feature = "rayon")]
    if worth(a.len()) {
        use rayon::prelude::*;
        let c = chunk_len(a.len());
        return a.par_iter().zip(b.par_iter()).with_min_len(c).map(|(&a, &b)| op(a, b)).collect();
    }
    a.iter().zip(b).map(|(&a, &b)| op(a, b)).collect()
}
