//! Pictures of a result as SVG, with no drawing dependency: the 2-D map of the conditioned
//! features, the cluster sizes, and the confusion matrix against labels. `clusterby plot`
//! writes them; the HTML report embeds them. Every text from captions, names or labels is
//! escaped.

use std::collections::HashMap;
use std::fmt::Write;

use ndarray::ArrayView2;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;

use crate::query::ClusterResult;
use crate::report::escape;

/// Matplotlib's tab20 colours, so the Python and the SVG pictures match.
const PALETTE: [&str; 20] = [
    "#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896", "#9467bd", "#c5b0d5",
    "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7", "#bcbd22", "#dbdb8d", "#17becf", "#9edae5",
];
/// Points drawn on the map at most (a seeded even sample beyond), to keep the file small.
const MAX_POINTS: usize = 20_000;

/// Coordinates of the rows on their first two principal components.
pub fn principal_2d(x: ArrayView2<f32>, seed: u64) -> Vec<(f32, f32)> {
    let mut rng = Xoshiro256Plus::seed_from_u64(seed);
    match crate::cluster::principal_coordinates(x, 2, &mut rng) {
        Some(z) if z.ncols() == 2 => z.rows().into_iter().map(|r| (r[0], r[1])).collect(),
        Some(z) => z.rows().into_iter().map(|r| (r[0], 0.0)).collect(),
        None => vec![(0.0, 0.0); x.nrows()],
    }
}

fn header(w: u32, h: u32, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"sans-serif\"><rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{}</text>",
        w / 2,
        escape(title)
    )
}

/// The map: one dot per row (noise grey), each cluster's name at its median.
pub fn map_svg(r: &ClusterResult, xy: &[(f32, f32)]) -> String {
    let (w, h, pad) = (760.0f32, 560.0f32, 40.0f32);
    let labels: Vec<i64> = r.assignments.iter().map(|a| a.cluster).collect();
    let (mut lo, mut hi) = ((f32::MAX, f32::MAX), (f32::MIN, f32::MIN));
    for &(x, y) in xy {
        lo = (lo.0.min(x), lo.1.min(y));
        hi = (hi.0.max(x), hi.1.max(y));
    }
    let sx = (w - 2.0 * pad) / (hi.0 - lo.0).max(1e-9);
    let sy = (h - 2.0 * pad - 20.0) / (hi.1 - lo.1).max(1e-9);
    let px = |(x, y): (f32, f32)| (pad + (x - lo.0) * sx, h - pad - (y - lo.1) * sy);
    let title = format!("by “{}”: {} clusters (conditioned features, PCA)", r.criterion, r.k);
    let mut s = header(w as u32, h as u32, &title);
    let step = xy.len().div_ceil(MAX_POINTS).max(1);
    for (i, (&p, &l)) in xy.iter().zip(&labels).enumerate().step_by(step) {
        let (x, y) = px(p);
        let colour = if l < 0 { "#cccccc" } else { PALETTE[l as usize % PALETTE.len()] };
        let _ = write!(s, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2.2\" fill=\"{colour}\" fill-opacity=\"0.75\"><title>{}</title></circle>", escape(&r.assignments[i].id));
    }
    for c in r.clusters.iter().filter(|c| c.id >= 0) {
        let mut xs: Vec<f32> = Vec::new();
        let mut ys: Vec<f32> = Vec::new();
        for (&p, _) in xy.iter().zip(&labels).filter(|(_, &l)| l == c.id) {
            xs.push(p.0);
            ys.push(p.1);
        }
        if xs.is_empty() {
            continue;
        }
        let (x, y) = px((median(&mut xs), median(&mut ys)));
        let _ = write!(
            s,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"12\" text-anchor=\"middle\" stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\">{}</text>",
            escape(&c.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn median(v: &mut [f32]) -> f32 {
    let mid = v.len() / 2;
    *v.select_nth_unstable_by(mid, f32::total_cmp).1
}

/// Horizontal bars of the cluster sizes, largest first.
pub fn sizes_svg(r: &ClusterResult) -> String {
    let row = 22.0f32;
    let (w, left) = (760.0f32, 260.0f32);
    let h = 50.0 + row * r.clusters.len() as f32;
    let most = r.clusters.iter().map(|c| c.size).max().unwrap_or(1).max(1) as f32;
    let mut s = header(w as u32, h as u32, &format!("cluster sizes by “{}”", r.criterion));
    for (i, c) in r.clusters.iter().enumerate() {
        let y = 40.0 + row * i as f32;
        let len = (w - left - 70.0) * c.size as f32 / most;
        let colour = if c.id < 0 { "#cccccc" } else { PALETTE[c.id as usize % PALETTE.len()] };
        let _ = write!(
            s,
            "<text x=\"{:.0}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\">{}</text>\
             <rect x=\"{left}\" y=\"{:.1}\" width=\"{len:.1}\" height=\"{:.1}\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            left - 8.0,
            y + 14.0,
            escape(&c.name),
            y + 2.0,
            row - 4.0,
            left + len + 6.0,
            y + 14.0,
            c.size
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Clusters × labels, the matched pairs (Hungarian) on the diagonal; `None` without labels.
pub fn confusion_svg(r: &ClusterResult, labels: &HashMap<String, String>) -> Option<String> {
    let mut classes: Vec<&str> = labels.values().map(String::as_str).collect();
    classes.sort_unstable();
    classes.dedup();
    if classes.is_empty() {
        return None;
    }
    let clusters: Vec<i64> = r.clusters.iter().map(|c| c.id).collect();
    let mut counts = vec![vec![0usize; classes.len()]; clusters.len()];
    let (mut truth, mut pred) = (Vec::new(), Vec::new());
    for a in &r.assignments {
        let (Some(l), Some(ci)) = (labels.get(&a.id), clusters.iter().position(|&c| c == a.cluster)) else { continue };
        let li = classes.binary_search(&l.as_str()).ok()?;
        counts[ci][li] += 1;
        truth.push(li);
        pred.push(ci);
    }
    let (rows, cols) = matched_order(&crate::eval::matching(&truth, &pred), clusters.len(), classes.len());
    let cell = 26.0f32;
    let (left, top) = (240.0f32, 150.0f32);
    let w = left + cell * cols.len() as f32 + 20.0;
    let h = top + cell * rows.len() as f32 + 20.0;
    let most = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f32;
    let mut s = header(w as u32, h as u32, &format!("by “{}”: clusters × labels (Hungarian order)", r.criterion));
    for (j, &c) in cols.iter().enumerate() {
        let x = left + cell * j as f32 + cell / 2.0;
        let _ = write!(
            s,
            "<text transform=\"translate({x:.1},{:.1}) rotate(-60)\" font-size=\"11\">{}</text>",
            top - 6.0,
            escape(classes[c])
        );
    }
    for (i, &ri) in rows.iter().enumerate() {
        let y = top + cell * i as f32;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y + cell * 0.65,
            escape(&r.clusters[ri].name)
        );
        for (j, &c) in cols.iter().enumerate() {
            let v = counts[ri][c];
            let shade = 255.0 - 200.0 * v as f32 / most;
            let _ = write!(
                s,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{cell}\" height=\"{cell}\" fill=\"rgb({:.0},{:.0},255)\" stroke=\"#eee\"><title>{v}</title></rect>",
                left + cell * j as f32,
                shade,
                shade
            );
        }
    }
    s.push_str("</svg>\n");
    Some(s)
}

/// Row (cluster) and column (class) orders with the Hungarian pairs first, on the diagonal.
fn matched_order(pairs: &[(usize, usize)], n_rows: usize, n_cols: usize) -> (Vec<usize>, Vec<usize>) {
    let mut rows: Vec<usize> = pairs.iter().map(|p| p.0).collect();
    let mut cols: Vec<usize> = pairs.iter().map(|p| p.1).collect();
    rows.extend((0..n_rows).filter(|r| !rows.contains(r)).collect::<Vec<_>>());
    cols.extend((0..n_cols).filter(|c| !cols.contains(c)).collect::<Vec<_>>());
    (rows, cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{Assignment, ClusterSummary, Strategy};

    /// Four items in two clusters, one named with markup.
    fn result() -> ClusterResult {
        let mut r = ClusterResult::new("<b>mood</b>", Strategy::ZeroCall, 2, 0);
        r.assignments = [("a", 0), ("b", 0), ("c", 1), ("d", -1)]
            .iter()
            .map(|(id, c)| Assignment { id: id.to_string(), cluster: *c })
            .collect();
        let summary = |id: i64, name: &str, size| ClusterSummary {
            id,
            name: name.into(),
            size,
            keywords: vec![],
            examples: vec![],
        };
        r.clusters = vec![summary(0, "calm", 2), summary(1, "<script>x</script>", 1), summary(-1, "noise", 1)];
        r
    }

    #[test]
    fn every_text_is_escaped() {
        let r = result();
        let xy = [(0.0, 0.0), (0.1, 0.0), (1.0, 1.0), (0.5, 0.5)];
        let labels: HashMap<String, String> =
            [("a", "x<y"), ("b", "x<y"), ("c", "z")].iter().map(|(i, l)| (i.to_string(), l.to_string())).collect();
        for svg in [map_svg(&r, &xy), sizes_svg(&r), confusion_svg(&r, &labels).unwrap()] {
            assert!(!svg.contains("<script>") && !svg.contains("<b>") && !svg.contains("x<y"), "{svg}");
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        }
        assert!(map_svg(&r, &xy).contains("&lt;script&gt;"));
        assert_eq!(map_svg(&r, &xy).matches("<circle").count(), 4);
    }

    #[test]
    fn the_confusion_matrix_puts_matched_pairs_on_the_diagonal() {
        let r = result();
        // Cluster 0 holds both "z" items, cluster 1 the "y" one: the matching pairs 0-z, 1-y.
        let labels: HashMap<String, String> =
            [("a", "z"), ("b", "z"), ("c", "y")].iter().map(|(i, l)| (i.to_string(), l.to_string())).collect();
        let svg = confusion_svg(&r, &labels).unwrap();
        let column = |name: &str| svg.find(&format!(">{name}</text>")).unwrap();
        assert!(column("z") < column("y"), "z (matched to the first cluster) comes first: {svg}");
        assert!(confusion_svg(&r, &HashMap::new()).is_none());
    }

    #[test]
    fn principal_coordinates_keep_the_spread() {
        let x = ndarray::array![[1.0f32, 0.0, 0.0], [0.0, 1.0, 0.0], [0.9, 0.1, 0.0], [0.1, 0.9, 0.0]];
        let xy = principal_2d(x.view(), 1);
        assert_eq!(xy.len(), 4);
        // The two groups fall on opposite sides of the first component.
        assert!(xy[0].0 * xy[1].0 < 0.0 && xy[0].0 * xy[2].0 > 0.0);
    }
}
