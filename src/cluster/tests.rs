use ndarray::{Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256Plus;

use super::geometry::{relabel_by_size, silhouette_cosine};
use super::*;

fn gaussian(rng: &mut impl Rng) -> f32 {
    // Box-Muller; keeps the test free of extra distribution crates.
    let u1: f32 = rng.gen_range(f32::EPSILON..1.0);
    let u2: f32 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

fn normalise_rows(x: &mut Array2<f32>) {
    for mut r in x.axis_iter_mut(Axis(0)) {
        let norm = r.dot(&r).sqrt();
        r /= norm;
    }
}

/// `k` well-separated blobs on the unit sphere: random centres (nearly orthogonal in `d`
/// dimensions) plus isotropic noise of relative size `spread`. Rows are shuffled.
fn blobs(k: usize, per: usize, d: usize, spread: f32, seed: u64) -> (Array2<f32>, Vec<usize>) {
    let mut rng = Xoshiro256Plus::seed_from_u64(seed);
    let mut centres = Array2::from_shape_fn((k, d), |_| gaussian(&mut rng));
    normalise_rows(&mut centres);
    let n = k * per;
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.gen_range(0..=i));
    }
    let truth: Vec<usize> = order.iter().map(|&o| o % k).collect();
    let scale = spread / (d as f32).sqrt();
    let mut x = Array2::from_shape_fn((n, d), |(i, j)| centres[[truth[i], j]] + scale * gaussian(&mut rng));
    normalise_rows(&mut x);
    (x, truth)
}

/// Fraction of row pairs on which two labellings agree about "same cluster" (Rand index);
/// rows that are noise in `found` are skipped.
fn pair_agreement(found: &[i64], truth: &[usize]) -> f64 {
    let idx: Vec<usize> = (0..found.len()).filter(|&i| found[i] >= 0).collect();
    let (mut agree, mut total) = (0u64, 0u64);
    for a in 0..idx.len() {
        for b in (a + 1)..idx.len() {
            let (i, j) = (idx[a], idx[b]);
            agree += u64::from((found[i] == found[j]) == (truth[i] == truth[j]));
            total += 1;
        }
    }
    agree as f64 / total.max(1) as f64
}

fn assert_recovers(c: &Clustering, truth: &[usize], k: usize, max_noise: f64) {
    assert_eq!(c.k, k, "clusters found: {:?}", c.sizes());
    let noise = c.noise_count() as f64 / truth.len() as f64;
    assert!(noise <= max_noise, "noise fraction {noise}");
    let agreement = pair_agreement(&c.labels, truth);
    assert!(agreement > 0.999, "pair agreement {agreement}");
}

fn run(x: &Array2<f32>, p: ClusterParams) -> Result<Clustering, ClusterError> {
    fit(x.view(), &p.check()?)
}

#[test]
fn kmeans_recovers_blobs() {
    let (x, truth) = blobs(5, 80, 64, 0.5, 1);
    let c = run(&x, ClusterParams::new(Method::KMeans).with_k(Some(5))).unwrap();
    assert_recovers(&c, &truth, 5, 0.0);
    assert!(!c.k_chosen_automatically);
    assert_eq!(c.fit_rows, 400);
}

#[test]
fn kmeans_sample_then_assign_recovers_blobs() {
    let (x, truth) = blobs(6, 300, 64, 0.5, 2);
    let p = ClusterParams::new(Method::KMeans).with_k(Some(6)).with_fit_sample_size(300);
    let c = run(&x, p).unwrap();
    assert_eq!(c.fit_rows, 300);
    assert_recovers(&c, &truth, 6, 0.0);
}

#[test]
fn joined_rows_stream_to_the_same_labels_as_their_dense_copy() {
    // 20 000 rows, assigned a block at a time without joining them; the fit sample is 2 000.
    let (x, truth) = blobs(6, 3_334, 24, 1.5, 9);
    let (a, b) = (0.8f32.sqrt(), 0.2f32.sqrt());
    let mut left_unit = x.slice(ndarray::s![.., ..16]).to_owned();
    let mut right = x.slice(ndarray::s![.., 16..]).to_owned();
    // Unit joined rows: left rows unit, right rows scaled to the remaining length.
    normalise_rows(&mut left_unit);
    normalise_rows(&mut right);
    right *= b;
    let joined = Rows::Joined { left: left_unit.view(), left_scale: a, right: right.view() };
    let params =
        ClusterParams::new(Method::KMeans).with_k(Some(6)).with_fit_sample_size(2_000).with_seed(4).check().unwrap();
    let streamed = fit_rows(joined, &params).unwrap();
    let dense = fit(joined.to_dense().view(), &params).unwrap();
    assert_eq!(streamed.labels, dense.labels);
    assert_eq!(fit_unit_rows(joined, &params).unwrap().labels, dense.labels, "the check skipped, same answer");
    assert_eq!((streamed.fit_rows, streamed.k), (2_000, 6));
    // The streamed fit scores every row against its centroid; the highest of a cluster is
    // nearest it.
    let scores = streamed.typicality.as_ref().expect("streamed k-means scores rows");
    let dense_rows = joined.to_dense();
    for c in 0..6i64 {
        let members: Vec<usize> = (0..streamed.labels.len()).filter(|&i| streamed.labels[i] == c).collect();
        let best = *members.iter().max_by(|&&i, &&j| scores[i].total_cmp(&scores[j])).unwrap();
        let mean = dense_rows.select(ndarray::Axis(0), &members).mean_axis(ndarray::Axis(0)).unwrap();
        let d = |i: usize| (&dense_rows.row(i) - &mean).mapv(|v| v * v).sum();
        let nearest = members.iter().map(|&i| d(i)).fold(f32::INFINITY, f32::min);
        assert!(
            d(best) <= nearest + 0.05,
            "cluster {c}: most typical row {best} is {} from the mean, nearest {nearest}",
            d(best)
        );
    }
    assert!(pair_agreement(&streamed.labels[..2_000], &truth[..2_000]) > 0.9);
    // Not unit (scale off): joined into one matrix and normalised by `fit`, same answer.
    let off = Rows::Joined { left: left_unit.view(), left_scale: 2.0, right: right.view() };
    assert_eq!(fit_rows(off, &params).unwrap().labels, fit(off.to_dense().view(), &params).unwrap().labels);
}

#[test]
fn coarse_kmeans_recovers_blobs_in_principal_coordinates() {
    // 64 dimensions > the 16 principal coordinates k = 6 competes in.
    let (x, truth) = blobs(6, 200, 64, 0.6, 12);
    let params = ClusterParams::new(Method::KMeans).with_k(Some(6)).with_n_runs(3).with_seed(5).check().unwrap();
    let labels: Vec<i64> = coarse_kmeans(x.view(), &params).unwrap().into_iter().map(|l| l as i64).collect();
    assert!(pair_agreement(&labels, &truth) > 0.95);
    assert_eq!(labels, coarse_kmeans(x.view(), &params).unwrap().into_iter().map(|l| l as i64).collect::<Vec<_>>());
}

#[test]
fn refine_from_a_noisy_partition_keeps_label_meaning() {
    let (x, truth) = blobs(3, 200, 32, 0.5, 11);
    // The true partition with every fifth row mislabelled, labels permuted (2, 0, 1).
    let perm = [2i64, 0, 1];
    let noisy: Vec<i64> =
        truth.iter().enumerate().map(|(i, &t)| perm[if i % 5 == 0 { (t + 1) % 3 } else { t }]).collect();
    let params = ClusterParams::new(Method::KMeans).with_k(Some(3)).check().unwrap();
    let refined = refine_kmeans(Rows::Dense(x.view()), &noisy, 3, &params).unwrap();
    for (r, &t) in refined.iter().zip(&truth) {
        assert_eq!(*r, perm[t], "cluster j is still the one that started as j");
    }
    let e = |l: &[i64]| mean_sq_distance(Rows::Dense(x.view()), l, 3).unwrap();
    assert!(e(&refined) < e(&noisy));
    assert!(refine_kmeans(Rows::Dense(x.view()), &noisy[1..], 3, &params).is_err(), "length mismatch");
}

#[test]
fn dbscan_recovers_blobs_with_default_eps() {
    let (x, truth) = blobs(4, 100, 64, 0.5, 3);
    let c = run(&x, ClusterParams::new(Method::Dbscan)).unwrap();
    assert!(c.eps().is_some_and(|e| e > 0.0 && e < 1.0), "eps {:?}", c.eps());
    assert_recovers(&c, &truth, 4, 0.1);
}

#[test]
fn hdbscan_recovers_blobs() {
    let (x, truth) = blobs(4, 100, 64, 0.5, 4);
    let c = run(&x, ClusterParams::new(Method::Hdbscan)).unwrap();
    assert_recovers(&c, &truth, 4, 0.1);
    // A k hint only shapes defaults; the count reported is what was found.
    let c = run(&x, ClusterParams::new(Method::Hdbscan).with_k(Some(9))).unwrap();
    assert_recovers(&c, &truth, 4, 0.1);
}

#[test]
fn density_methods_record_every_setting_and_where_it_came_from() {
    use crate::cluster::{Setting, SettingSource::*};
    let (x, _) = blobs(4, 100, 64, 0.5, 5);
    // HDBSCAN with K = 4: the smallest cluster is n / 4K = 25, min_samples that, at most 20.
    let c = run(&x, ClusterParams::new(Method::Hdbscan).with_k(Some(4))).unwrap();
    let d = c.density.expect("HDBSCAN reports its settings");
    assert_eq!(d.min_cluster_size, Setting { value: 25, source: Default });
    assert_eq!(d.min_samples, Setting { value: 20, source: Default });
    assert_eq!((d.eps, d.dimensions), (None, super::density::DENSITY_DIMS));
    let p = ClusterParams::new(Method::Hdbscan).with_min_cluster_size(Some(30)).with_min_samples(Some(7));
    let d = run(&x, p).unwrap().density.unwrap();
    assert_eq!(d.min_cluster_size, Setting { value: 30, source: Given });
    assert_eq!(d.min_samples, Setting { value: 7, source: Given });
    // DBSCAN: a radius it chose, or the one given; min_points 5 by default.
    let c = run(&x, ClusterParams::new(Method::Dbscan)).unwrap();
    let d = c.density.unwrap();
    assert_eq!(d.min_samples, Setting { value: 5, source: Default });
    assert_eq!(d.eps.map(|e| e.source), Some(Chosen));
    assert_eq!(d.eps.map(|e| e.value), c.eps());
    let d = run(&x, ClusterParams::new(Method::Dbscan).with_eps(Some(0.5))).unwrap().density.unwrap();
    assert_eq!(d.eps, Some(Setting { value: 0.5, source: Given }));
    // The other methods have none.
    assert!(run(&x, ClusterParams::new(Method::KMeans).with_k(Some(4))).unwrap().density.is_none());
}

#[test]
fn agglomerative_recovers_blobs_every_linkage() {
    let (x, truth) = blobs(5, 60, 64, 0.5, 5);
    for linkage in [Linkage::Ward, Linkage::Average, Linkage::Complete, Linkage::Single] {
        let p = ClusterParams::new(Method::Agglomerative).with_k(Some(5)).with_linkage(linkage);
        assert_recovers(&run(&x, p).unwrap(), &truth, 5, 0.0);
    }
}

#[test]
fn agglomerative_sample_then_assign_recovers_blobs() {
    let (x, truth) = blobs(5, 120, 64, 0.5, 6);
    let p = ClusterParams::new(Method::Agglomerative).with_k(Some(5)).with_max_exact_n(Some(200));
    let c = run(&x, p).unwrap();
    assert_eq!(c.fit_rows, 200);
    assert_recovers(&c, &truth, 5, 0.0);
}

#[test]
fn same_seed_same_labels() {
    let (x, _) = blobs(6, 50, 32, 0.9, 7);
    for method in Method::ALL {
        let p = ClusterParams::new(method).with_k(Some(6)).with_seed(11);
        let a = run(&x, p.clone()).unwrap();
        let b = run(&x, p).unwrap();
        assert_eq!(a, b, "{method}");
    }
    // Random sampling paths too.
    let p = ClusterParams::new(Method::KMeans).with_fit_sample_size(100).with_seed(3);
    assert_eq!(run(&x, p.clone()).unwrap(), run(&x, p).unwrap());
}

#[test]
fn auto_k_finds_blob_count() {
    let (x, truth) = blobs(7, 60, 64, 0.5, 8);
    for method in [Method::KMeans, Method::Agglomerative] {
        let c = run(&x, ClusterParams::new(method)).unwrap();
        assert!(c.k_chosen_automatically);
        let sel = c.selection.as_ref().unwrap();
        println!("{method}: {:?}", sel.scores);
        assert_eq!(sel.criterion, "silhouette-cosine");
        assert_eq!(sel.sample_size, 420);
        // k_max default: min(30, sqrt(420)) = 20.
        assert_eq!(sel.scores.iter().map(|s| s.k).collect::<Vec<_>>(), (2..=20).collect::<Vec<_>>());
        assert_recovers(&c, &truth, 7, 0.0);
    }
}

#[test]
fn auto_k_on_a_sample_then_full_fit() {
    let (x, truth) = blobs(4, 150, 32, 0.5, 9);
    let p = ClusterParams::new(Method::KMeans).with_selection_sample_size(200).with_k_max(Some(8));
    let c = run(&x, p).unwrap();
    assert_eq!(c.selection.as_ref().unwrap().sample_size, 200);
    assert_eq!(c.selection.as_ref().unwrap().scores.len(), 7);
    assert_recovers(&c, &truth, 4, 0.0);
}

#[test]
fn unnormalised_rows_are_normalised() {
    let (x, _) = blobs(3, 40, 16, 0.5, 10);
    let mut scaled = x.clone();
    for (i, mut r) in scaled.axis_iter_mut(Axis(0)).enumerate() {
        r *= 0.1 + i as f32;
    }
    let p = ClusterParams::new(Method::KMeans).with_k(Some(3));
    assert_eq!(run(&x, p.clone()).unwrap().labels, run(&scaled, p).unwrap().labels);
}

#[test]
fn labels_are_ordered_by_cluster_size() {
    let (labels, k) = relabel_by_size(&[7, 3, 3, -1, 7, 3, 9]);
    assert_eq!(k, 3);
    assert_eq!(labels, vec![1, 0, 0, -1, 1, 0, 2]);
}

#[test]
fn silhouette_matches_brute_force() {
    let (x, _) = blobs(3, 15, 8, 1.5, 12);
    let mut rng = Xoshiro256Plus::seed_from_u64(0);
    let labels: Vec<usize> = (0..x.nrows()).map(|i| if i == 0 { 3 } else { rng.gen_range(0..3) }).collect();
    let k = 4; // cluster 3 is a singleton
    let dist = |i: usize, j: usize| 1.0 - x.row(i).dot(&x.row(j));
    let mut total = 0.0;
    for i in 0..x.nrows() {
        let mean_to = |c: usize| {
            let members: Vec<usize> = (0..x.nrows()).filter(|&j| labels[j] == c && j != i).collect();
            members.iter().map(|&j| dist(i, j)).sum::<f32>() / members.len() as f32
        };
        if labels.iter().filter(|&&l| l == labels[i]).count() == 1 {
            continue;
        }
        let a = mean_to(labels[i]);
        let b = (0..k).filter(|&c| c != labels[i]).map(mean_to).fold(f32::INFINITY, f32::min);
        total += (b - a) / a.max(b);
    }
    let expected = total / x.nrows() as f32;
    let got = silhouette_cosine(x.view(), &labels, k);
    assert!((got - expected).abs() < 1e-4, "{got} vs {expected}");
}

#[test]
fn method_names_round_trip() {
    for m in Method::ALL {
        assert_eq!(m.to_string().parse::<Method>().unwrap(), m);
        assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
        assert_eq!(serde_json::from_str::<Method>(&format!("\"{m}\"")).unwrap(), m);
    }
    assert_eq!(" KMeans ".parse::<Method>().unwrap(), Method::KMeans);
    assert!(matches!("spectral".parse::<Method>(), Err(ClusterError::UnknownName { .. })));
    assert_eq!("average".parse::<Linkage>().unwrap(), Linkage::Average);
}

#[test]
fn bad_params_are_rejected_at_check() {
    let bad = |p: ClusterParams| assert!(matches!(p.check(), Err(ClusterError::InvalidParam { .. })));
    bad(ClusterParams::new(Method::KMeans).with_k(Some(0)));
    bad(ClusterParams::new(Method::KMeans).with_k_max(Some(1)));
    bad(ClusterParams::new(Method::KMeans).with_n_runs(0));
    bad(ClusterParams::new(Method::KMeans).with_tolerance(f32::NAN));
    bad(ClusterParams::new(Method::Dbscan).with_eps(Some(0.0)));
    bad(ClusterParams::new(Method::Dbscan).with_eps(Some(f32::NAN)));
    bad(ClusterParams::new(Method::Dbscan).with_min_samples(Some(1)));
    bad(ClusterParams::new(Method::Hdbscan).with_min_cluster_size(Some(1)));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let p = ClusterParams::new(Method::KMeans).with_k(Some(2)).check().unwrap();
    assert!(matches!(fit(Array2::<f32>::zeros((0, 4)).view(), &p), Err(ClusterError::EmptyInput)));
    assert!(matches!(fit(Array2::<f32>::zeros((3, 0)).view(), &p), Err(ClusterError::ZeroDimension)));

    let (mut x, _) = blobs(2, 5, 4, 0.5, 13);
    let k_big = ClusterParams::new(Method::KMeans).with_k(Some(11)).check().unwrap();
    assert!(matches!(fit(x.view(), &k_big), Err(ClusterError::KTooLarge { k: 11, n: 10 })));
    let k_big = ClusterParams::new(Method::Agglomerative).with_k(Some(11)).check().unwrap();
    assert!(matches!(fit(x.view(), &k_big), Err(ClusterError::KTooLarge { .. })));

    x[[6, 2]] = f32::NAN;
    for method in Method::ALL {
        let p = ClusterParams::new(method).with_k(Some(2)).check().unwrap();
        assert!(matches!(fit(x.view(), &p), Err(ClusterError::NonFinite { row: 6 })), "{method}");
    }
    x[[6, 2]] = f32::INFINITY;
    assert!(matches!(fit(x.view(), &p), Err(ClusterError::NonFinite { row: 6 })));
    // Huge but finite values are valid (their f32 squares overflow; the check must not).
    x[[6, 2]] = 0.5;
    let mut huge = x.clone();
    huge.row_mut(3).fill(3e30);
    assert!(fit(huge.view(), &p).is_ok());
    x.row_mut(4).fill(0.0);
    x[[6, 2]] = 0.5;
    assert!(matches!(fit(x.view(), &p), Err(ClusterError::ZeroVector { row: 4 })));
}

#[test]
fn size_limits_and_tiny_inputs() {
    let (x, _) = blobs(2, 10, 8, 0.5, 14);
    // The density methods have no row limit any more; the setting only samples agglomerative.
    for method in [Method::Hdbscan, Method::Dbscan] {
        let p = ClusterParams::new(method).with_max_exact_n(Some(10)).with_min_cluster_size(Some(5));
        assert_eq!(run(&x, p).unwrap().labels.len(), 20, "{method}");
    }

    let two = x.slice(ndarray::s![..2, ..]).to_owned();
    let auto = ClusterParams::new(Method::KMeans);
    assert!(matches!(run(&two, auto), Err(ClusterError::TooFewRows { .. })));

    // One row: every method answers without panicking.
    let one = x.slice(ndarray::s![..1, ..]).to_owned();
    for method in Method::ALL {
        let c = run(&one, ClusterParams::new(method).with_k(Some(1))).unwrap();
        assert_eq!(c.labels.len(), 1, "{method}");
    }
    let c = run(&one, ClusterParams::new(Method::Dbscan).with_eps(Some(0.5))).unwrap();
    assert_eq!(c.labels.len(), 1, "DBSCAN at a given radius");
    // Duplicated rows: k-means++ cannot find k distinct seeds; report what exists.
    let dup = Array2::from_shape_fn((6, 4), |(_, j)| if j == 0 { 1.0 } else { 0.0 });
    for method in Method::ALL {
        let c = run(&dup, ClusterParams::new(method).with_k(Some(3))).unwrap();
        assert!(c.k <= 3, "{method}");
    }
}
