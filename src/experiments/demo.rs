//! The built-in demo corpus: captions of scenes that differ in both place and mood, so that the
//! same collection clusters one way "by location" and another way "by mood".

use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::store::readers::CaptionRecord;

const PLACES: [(&str, [&str; 5]); 4] = [
    (
        "beach",
        [
            "on a sandy beach with waves rolling in",
            "by the sea, with sand and a row of umbrellas",
            "at the shore, where the surf meets the sand",
            "on a beach under palm trees near the ocean",
            "on the coast, with seashells scattered on the sand",
        ],
    ),
    (
        "forest",
        [
            "in a dense forest among tall pine trees",
            "on a trail through the woods, with moss on the trunks",
            "in a clearing surrounded by oak trees and ferns",
            "deep in the woodland, where leaves cover the ground",
            "under the forest canopy beside a fallen log",
        ],
    ),
    (
        "city street",
        [
            "on a busy city street lined with shops",
            "at a downtown intersection with traffic lights and taxis",
            "on an urban sidewalk between tall office buildings",
            "in a city square with buses passing by",
            "on a street corner in the middle of the city",
        ],
    ),
    (
        "kitchen",
        [
            "in a home kitchen next to the stove",
            "at a kitchen counter with pots and pans",
            "in a small kitchen beside the fridge and the sink",
            "at the kitchen table with plates and a kettle",
            "in a kitchen where vegetables lie on a cutting board",
        ],
    ),
];

const MOODS: [(&str, [&str; 5]); 4] = [
    (
        "joyful",
        [
            "Everyone is laughing and smiling; the atmosphere is cheerful and festive.",
            "They are celebrating with big grins, full of joy and excitement.",
            "The people look delighted and happy, dancing and having fun.",
            "It feels like a party: bright smiles, cheering and laughter.",
            "The mood is playful and happy, with people jumping with joy.",
        ],
    ),
    (
        "calm",
        [
            "The atmosphere is quiet and peaceful; nobody is in a hurry.",
            "Everything feels serene and relaxed, still and tranquil.",
            "A person rests calmly, breathing slowly in the gentle silence.",
            "The moment is restful and soothing, with soft light and no noise.",
            "It is a tranquil, meditative scene of quiet rest.",
        ],
    ),
    (
        "sad",
        [
            "A person sits alone with tears, looking sad and lonely.",
            "The mood is gloomy and melancholic; someone is grieving.",
            "Someone looks heartbroken and depressed, staring down in sorrow.",
            "The atmosphere is somber and mournful, full of sadness.",
            "A lonely figure weeps quietly, clearly unhappy and downcast.",
        ],
    ),
    (
        "tense",
        [
            "The atmosphere is tense and frightening; people look scared.",
            "Someone is shouting angrily and the situation feels dangerous.",
            "People run in panic, fearful and alarmed by a threat.",
            "The scene is stressful and hostile, with an angry argument.",
            "A frightened person hides, anxious and terrified.",
        ],
    ),
];

const SUBJECTS: [&str; 5] = ["A group of friends", "A young woman", "An old man", "A family", "Two people"];

/// One demo item with its two ground-truth attributes.
pub struct DemoItem {
    pub record: CaptionRecord,
    pub location: &'static str,
    pub mood: &'static str,
}

/// 80 captions: every (place, mood) pair five times, worded differently each time, seeded.
pub fn corpus() -> Vec<DemoItem> {
    let mut rng = rand_xoshiro::Xoshiro256Plus::seed_from_u64(2024);
    let mut out = Vec::new();
    for (p, (place, place_txt)) in PLACES.iter().enumerate() {
        for (m, (mood, mood_txt)) in MOODS.iter().enumerate() {
            for v in 0..5 {
                let subject = SUBJECTS.choose(&mut rng).unwrap_or(&SUBJECTS[0]);
                let caption = format!(
                    "The image shows {} {}. {}",
                    subject.to_lowercase(),
                    place_txt[(v + m) % 5],
                    mood_txt[(v + p) % 5]
                );
                out.push(DemoItem {
                    record: CaptionRecord {
                        id: format!("demo-{p}{m}{v}"),
                        caption,
                        label: Some(format!("{place}|{mood}")),
                    },
                    location: place,
                    mood,
                });
            }
        }
    }
    out.shuffle(&mut rng);
    out
}
