//! How well a result's cluster names say their classes: each cluster is matched to a class as
//! accuracy matches them (Hungarian, on the labelled items), and the name is compared with the
//! class name by the cosine of their sentence embeddings. The mean over matched clusters is one
//! number for a namer on a labelled set; it needs no judge model.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{matching, EvalError};

/// One matched cluster: its name, the class it was matched to, and their cosine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamePair {
    pub cluster: i64,
    pub name: String,
    pub class: String,
    pub cosine: f32,
}

/// The mean cosine between each matched cluster's name and its class name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameQuality {
    pub mean_cosine: f32,
    pub pairs: Vec<NamePair>,
}

/// The (cluster, name, class) triples to compare: clusters matched to classes on the labelled
/// items, noise (-1) left out, in cluster order.
pub fn matched_names(
    truth: &HashMap<String, String>,
    assignments: &[(String, i64)],
    names: &HashMap<i64, String>,
) -> Result<Vec<(i64, String, String)>, EvalError> {
    let mut classes: Vec<&str> = truth.values().map(String::as_str).collect();
    classes.sort_unstable();
    classes.dedup();
    let class_id: HashMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let (mut t, mut p) = (Vec::new(), Vec::new());
    for (id, cluster) in assignments.iter().filter(|a| a.1 >= 0) {
        if let Some(label) = truth.get(id) {
            t.push(class_id[label.as_str()]);
            p.push(*cluster as usize);
        }
    }
    if t.is_empty() {
        return Err(EvalError::NoLabelledItems { assignments: assignments.len() });
    }
    Ok(matching(&t, &p)
        .into_iter()
        .filter_map(|(c, class)| {
            let name = names.get(&(c as i64))?;
            Some((c as i64, name.clone(), classes[class].to_string()))
        })
        .collect())
}

/// [`matched_names`] scored with `embed`, which returns one unit vector per text.
pub fn name_quality<E>(
    triples: Vec<(i64, String, String)>,
    embed: impl FnOnce(&[String]) -> Result<Vec<Vec<f32>>, E>,
) -> Result<NameQuality, E> {
    let texts: Vec<String> = triples.iter().flat_map(|(_, n, c)| [n.clone(), c.clone()]).collect();
    let vecs = embed(&texts)?;
    let pairs: Vec<NamePair> = triples
        .into_iter()
        .enumerate()
        .map(|(i, (cluster, name, class))| {
            let cosine = vecs[2 * i].iter().zip(&vecs[2 * i + 1]).map(|(a, b)| a * b).sum();
            NamePair { cluster, name, class, cosine }
        })
        .collect();
    let mean_cosine = pairs.iter().map(|p| p.cosine).sum::<f32>() / pairs.len().max(1) as f32;
    Ok(NameQuality { mean_cosine, pairs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_matched_to_classes_as_accuracy_matches_them() {
        let truth: HashMap<String, String> = [("a", "cat"), ("b", "cat"), ("c", "dog"), ("d", "dog"), ("e", "dog")]
            .map(|(i, l)| (i.into(), l.into()))
            .into();
        let assignments: Vec<(String, i64)> =
            [("a", 1), ("b", 1), ("c", 0), ("d", 0), ("e", -1), ("x", 0)].map(|(i, c)| (i.to_string(), c)).into();
        let names: HashMap<i64, String> = [(0, "Puppies".to_string()), (1, "Kittens".to_string())].into();
        let t = matched_names(&truth, &assignments, &names).unwrap();
        assert_eq!(t, [(0, "Puppies".into(), "dog".into()), (1, "Kittens".into(), "cat".into())]);
        // A toy embedding: each text's own axis, "Puppies" and "dog" sharing one.
        let axis = |s: &str| match s {
            "Puppies" | "dog" => vec![1.0, 0.0, 0.0],
            "Kittens" => vec![0.0, 1.0, 0.0],
            _ => vec![0.0, 0.0, 1.0],
        };
        let q = name_quality(t, |texts| Ok::<_, ()>(texts.iter().map(|s| axis(s)).collect())).unwrap();
        assert_eq!(q.pairs.iter().map(|p| p.cosine).collect::<Vec<_>>(), [1.0, 0.0]);
        assert_eq!(q.mean_cosine, 0.5);
        let none: HashMap<String, String> = HashMap::new();
        assert!(matches!(matched_names(&none, &assignments, &names), Err(EvalError::NoLabelledItems { .. })));
    }
}
