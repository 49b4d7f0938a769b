/// Mean of `hidden` (`batch × seq × dim`) over positions where `mask` is 1.
pub fn mean_pool(hidden: &[f32], mask: &[i64], batch: usize, seq: usize, dim: usize) -> Vec<f32> {
    let mut out = vec![0f32; batch * dim];
    for b in 0..batch {
        let acc = &mut out[b * dim..(b + 1) * dim];
        let mut count = 0f32;
        for s in 0..seq {
            if mask[b * seq + s] == 0 {
                continue;
            }
            count += 1.0;
            let h = &hidden[(b * seq + s) * dim..(b * seq + s + 1) * dim];
            for (a, x) in acc.iter_mut().zip(h) {
                *a += x;
            }
        }
        // sentence-transformers clamps the count at 1e-9, so an all-padding row stays zero.
        let inv = 1.0 / count.max(1e-9);
        acc.iter_mut().for_each(|a| *a *= inv);
    }
    out
}

/// L2-normalises each `dim`-long row in place; zero rows stay zero.
pub fn l2_normalize_rows(rows: &mut [f32], dim: usize) {
    for r in rows.chunks_mut(dim) {
        let n = r.iter().map(|x| x * x).sum::<f32>().sqrt();
        if n > 1e-12 {
            r.iter_mut().for_each(|x| *x /= n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pool_ignores_masked_positions() {
        // batch 2, seq 3, dim 2; second row has one padded position holding garbage
        let hidden = [1., 2., 3., 4., 100., 100., 1., 1., 3., 3., 9., 9.];
        let mask = [1, 1, 0, 1, 1, 1];
        let out = mean_pool(&hidden, &mask, 2, 3, 2);
        assert_eq!(out, vec![2., 3., 13. / 3., 13. / 3.]);
    }

    #[test]
    fn normalise_rows() {
        let mut v = vec![3., 4., 0., 0.];
        l2_normalize_rows(&mut v, 2);
        assert_eq!(v, vec![0.6, 0.8, 0., 0.]);
    }
}
