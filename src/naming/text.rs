//! English caption text for naming: a word tokenizer, stop words, a light
//! plural→singular lemmatiser and unigram/bigram term extraction.
//!
//! Deliberately small and rule-based: captions come from a vision-language
//! model, so their vocabulary is plain and repetitive, and an offline namer
//! must not pull in a full NLP stack.

use std::borrow::Cow;
use std::collections::HashSet;

/// The usual English stop-word list (NLTK's, plus a few modal and filler
/// words), written without apostrophes because [`tokenize`] joins
/// contractions ("don't" → "dont").
#[rustfmt::skip]
pub const STOP_WORDS: &[&str] = &[
    "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "youre", "youve", "youll",
    "youd", "your", "yours", "yourself", "yourselves", "he", "him", "his", "himself", "she", "her",
    "hers", "herself", "it", "its", "itself", "they", "them", "their", "theirs", "themselves",
    "what", "which", "who", "whom", "whose", "this", "that", "thatll", "these", "those", "am",
    "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "having", "do",
    "does", "did", "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as", "until",
    "while", "of", "at", "by", "for", "with", "about", "against", "between", "into", "through",
    "during", "before", "after", "above", "below", "to", "from", "up", "down", "in", "out", "on",
    "off", "over", "under", "again", "further", "then", "once", "here", "there", "when", "where",
    "why", "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such",
    "no", "nor", "not", "only", "own", "same", "so", "than", "too", "very", "s", "t", "can",
    "cant", "cannot", "will", "just", "don", "dont", "should", "shouldve", "now", "d", "ll", "m",
    "o", "re", "ve", "y", "ain", "aren", "arent", "couldn", "couldnt", "didn", "didnt", "doesn",
    "doesnt", "hadn", "hadnt", "hasn", "hasnt", "haven", "havent", "isn", "isnt", "ma", "mightn",
    "mightnt", "mustn", "mustnt", "needn", "neednt", "shan", "shant", "shouldn", "shouldnt",
    "wasn", "wasnt", "weren", "werent", "won", "wont", "wouldn", "wouldnt", "also", "could",
    "would", "might", "may", "must", "shall", "upon", "within", "without", "along", "around",
    "among", "onto", "toward", "towards", "via", "yet", "though", "although", "whether", "either",
    "neither", "etc", "even", "still", "like", "near", "next", "another", "many", "much",
    "several", "various", "every", "something", "someone", "thing", "things", "across",
    "behind", "beside", "beneath", "underneath", "throughout", "amid", "amongst", "despite",
    "except", "per", "since", "unlike", "versus", "away", "together", "really", "quite",
    "rather", "almost", "already", "however", "else", "ever",
];

/// Words vision-language captions repeat whatever the picture shows ("The
/// image features …, creating a serene atmosphere"). They would dominate
/// every cluster's vocabulary and say nothing about any of them.
#[rustfmt::skip]
pub const CAPTION_BOILERPLATE: &[&str] = &[
    "image", "images", "picture", "pictures", "photo", "photos", "photograph", "photographs",
    "scene", "scenes", "visible", "appear", "appears", "appeared", "appearing", "appearance",
    "suggest", "suggests", "suggesting", "overall", "depict", "depicts", "depicted", "depicting",
    "show", "shows", "showing", "shown", "setting", "settings", "feature", "features", "featured",
    "featuring", "display", "displays", "displayed", "displaying", "capture", "captures",
    "captured", "capturing", "showcase", "showcases", "showcasing", "highlight", "highlights",
    "highlighting", "create", "creates", "creating", "add", "adds", "adding", "atmosphere",
    "ambiance", "background", "foreground", "view", "frame", "framed", "composition", "shot",
    "seen", "seem", "seems", "possibly", "likely", "perhaps", "clearly", "prominently",
    "positioned", "located", "situated", "placed", "center", "centre", "left", "right", "side",
    "main", "focus", "focal", "subject", "element", "elements", "detail",
    "details", "visual", "sense", "evoke", "evokes", "evoking", "convey", "conveys", "conveying",
    "moment", "indicate", "indicates", "indicating", "include", "includes",
    "including", "present", "presence",
];

/// A stop-word set. Words are stored lowercased; [`StopWords::is_stop`]
/// checks a token both as written and singularised, so listing "image"
/// also stops "images".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopWords {
    words: HashSet<String>,
}

impl Default for StopWords {
    /// [`StopWords::captions`]: what caption naming wants.
    fn default() -> Self {
        Self::captions()
    }
}

impl StopWords {
    /// No stop words at all.
    pub fn empty() -> Self {
        Self { words: HashSet::new() }
    }

    /// [`STOP_WORDS`] only.
    pub fn english() -> Self {
        let mut s = Self::empty();
        s.extend(STOP_WORDS);
        s
    }

    /// [`STOP_WORDS`] plus [`CAPTION_BOILERPLATE`].
    pub fn captions() -> Self {
        let mut s = Self::english();
        s.extend(CAPTION_BOILERPLATE);
        s
    }

    /// Adds every word of `text` (so a phrase like "musical instrument" adds
    /// both words).
    pub fn insert(&mut self, text: &str) {
        for w in tokenize(text) {
            self.words.insert(w);
        }
    }

    pub fn extend<I, S>(&mut self, words: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for w in words {
            self.insert(w.as_ref());
        }
    }

    /// Exact lookup of an already lowercased word.
    pub fn contains(&self, word: &str) -> bool {
        self.words.contains(word)
    }

    /// Whether a lowercased token is a stop word, as written or singularised.
    pub fn is_stop(&self, token: &str) -> bool {
        self.contains(token) || self.contains(&singularize(token))
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '\u{02BC}')
}

/// Punctuation that ends a phrase, so bigrams never span "a dog. Cars …".
fn is_phrase_break(c: char) -> bool {
    matches!(
        c,
        '.' | ','
            | ';'
            | ':'
            | '!'
            | '?'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '"'
            | '|'
            | '\n'
            | '\r'
            | '\u{201C}'
            | '\u{201D}'
            | '\u{2026}'
            | '\u{2013}'
            | '\u{2014}'
            | '\u{2022}'
    )
}

/// Lowercased words grouped into phrases (split at sentence and clause
/// punctuation). Words are maximal runs of alphanumerics; an apostrophe
/// inside a word is dropped, and a possessive "'s" with it ("dog's" → "dog",
/// "don't" → "dont").
pub fn tokenize_phrases(text: &str) -> Vec<Vec<String>> {
    let mut phrases = Vec::new();
    let mut phrase: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
            continue;
        }
        if is_apostrophe(c) && !word.is_empty() {
            let mut ahead = chars.clone();
            match (ahead.next(), ahead.next()) {
                (Some('s' | 'S'), after) if !after.is_some_and(char::is_alphanumeric) => {
                    chars.next();
                    continue;
                }
                (Some(n), _) if n.is_alphanumeric() => continue,
                _ => {}
            }
        }
        if !word.is_empty() {
            phrase.push(std::mem::take(&mut word));
        }
        if is_phrase_break(c) && !phrase.is_empty() {
            phrases.push(std::mem::take(&mut phrase));
        }
    }
    if !word.is_empty() {
        phrase.push(word);
    }
    if !phrase.is_empty() {
        phrases.push(phrase);
    }
    phrases
}

/// Lowercased words of `text`, punctuation dropped (see [`tokenize_phrases`]).
pub fn tokenize(text: &str) -> Vec<String> {
    tokenize_phrases(text).into_iter().flatten().collect()
}

/// Irregular plurals, and regular-looking ones the suffix rules get wrong.
#[rustfmt::skip]
const IRREGULAR: &[(&str, &str)] = &[
    ("men", "man"), ("children", "child"), ("feet", "foot"), ("teeth", "tooth"),
    ("geese", "goose"), ("mice", "mouse"), ("oxen", "ox"), ("knives", "knife"),
    ("wives", "wife"), ("lives", "life"), ("leaves", "leaf"), ("loaves", "loaf"),
    ("wolves", "wolf"), ("shelves", "shelf"), ("bookshelves", "bookshelf"), ("halves", "half"),
    ("calves", "calf"), ("scarves", "scarf"), ("thieves", "thief"), ("elves", "elf"),
    ("hooves", "hoof"), ("dwarves", "dwarf"), ("wharves", "wharf"), ("buses", "bus"),
    ("gases", "gas"), ("lenses", "lens"), ("canvases", "canvas"), ("atlases", "atlas"),
    ("irises", "iris"), ("viruses", "virus"), ("bonuses", "bonus"), ("campuses", "campus"),
    ("circuses", "circus"), ("octopuses", "octopus"), ("cactuses", "cactus"),
    ("cacti", "cactus"), ("fungi", "fungus"), ("choruses", "chorus"), ("walruses", "walrus"),
    ("platypuses", "platypus"), ("geniuses", "genius"), ("quizzes", "quiz"),
    ("tomatoes", "tomato"), ("potatoes", "potato"), ("heroes", "hero"), ("echoes", "echo"),
    ("volcanoes", "volcano"), ("mosquitoes", "mosquito"), ("torpedoes", "torpedo"),
    ("mangoes", "mango"), ("buffaloes", "buffalo"), ("tornadoes", "tornado"),
    ("dominoes", "domino"), ("cargoes", "cargo"), ("emus", "emu"), ("menus", "menu"),
    ("goes", "go"), ("does", "do"), ("gurus", "guru"), ("tutus", "tutu"), ("haikus", "haiku"),
    ("gnus", "gnu"),
];

/// Words ending in "s" that are not regular plurals (or whose singular would
/// change the meaning, like "glasses" or "sports").
#[rustfmt::skip]
const INVARIANT: &[&str] = &[
    "news", "series", "species", "means", "glasses", "sunglasses", "eyeglasses", "goggles",
    "jeans", "pants", "shorts", "trousers", "clothes", "scissors", "pliers", "tongs",
    "binoculars", "pajamas", "pyjamas", "overalls", "tights", "sports", "athletics",
    "gymnastics", "physics", "mathematics", "economics", "politics", "electronics", "aerobics",
    "tennis", "iris", "axis", "chassis", "trellis", "pelvis", "debris", "canvas", "atlas",
    "christmas", "texas", "alias", "bias", "this", "metropolis", "acropolis", "epidermis",
    "marquis", "paris",
    "memphis", "chaos", "cosmos", "ethos", "kudos", "thermos",
    "lens", "always", "perhaps", "towards", "afterwards", "besides", "nowadays", "indoors",
    "outdoors", "upstairs", "downstairs", "overseas", "whereas", "rabies", "herpes", "diabetes",
    "measles", "mumps", "billiards", "barracks", "headquarters", "crossroads", "gallows",
];

/// Nouns whose singular ends in "ie", so "-ies" must not become "-y".
#[rustfmt::skip]
const IE_NOUNS: &[&str] = &[
    "movie", "cookie", "brownie", "selfie", "smoothie", "hoodie", "zombie", "calorie", "magpie",
    "veggie", "rookie", "goalie", "genie", "prairie", "birdie", "beanie", "collie", "auntie",
    "sweetie", "bootie", "pixie", "nightie", "hippie", "cutie", "freebie", "newbie", "budgie",
    "boogie", "pinkie", "yorkie", "sortie", "coterie", "menagerie", "rotisserie", "aussie",
    "kiddie", "doggie", "lassie", "bookie", "groupie", "techie", "foodie", "indie", "wheelie",
];

/// Nouns whose singular ends in "che", so "-ches" must not lose "es".
#[rustfmt::skip]
const CHE_NOUNS: &[&str] = &[
    "ache", "headache", "toothache", "stomachache", "backache", "moustache", "mustache", "cache",
    "niche", "avalanche", "cliche", "creche", "quiche", "psyche", "panache", "microfiche",
    "tranche", "douche", "cloche", "brioche", "gouache", "pastiche", "attache",
];

/// "-men" words that are not plurals of "-man".
#[rustfmt::skip]
const MEN_SINGULARS: &[&str] = &[
    "abdomen", "specimen", "regimen", "stamen", "ramen", "omen", "amen", "semen", "hymen",
    "yemen", "lumen", "acumen", "albumen",
];

/// Plural → singular for a lowercased English word, by rules that stay on
/// the safe side: unknown words ending in "ss", "us" or "sis" and short words
/// are left alone ("glass", "bus", "grass", "cactus"), and "-ves"/"-ies"
/// exceptions come from small lists ("leaves" → "leaf" but "gloves" →
/// "glove", "puppies" → "puppy" but "movies" → "movie").
pub fn singularize(word: &str) -> Cow<'_, str> {
    if let Some(&(_, singular)) = IRREGULAR.iter().find(|(plural, _)| *plural == word) {
        return Cow::Borrowed(singular);
    }
    let len = word.len();
    if len <= 3 || INVARIANT.contains(&word) || word.chars().any(|c| c.is_ascii_digit()) {
        return Cow::Borrowed(word);
    }
    if let Some(stem) = word.strip_suffix("men") {
        if len >= 5 && !MEN_SINGULARS.contains(&word) {
            return Cow::Owned(format!("{stem}man"));
        }
        return Cow::Borrowed(word);
    }
    let Some(without_s) = word.strip_suffix('s') else {
        return Cow::Borrowed(word);
    };
    if word.ends_with("ss") || word.ends_with("us") || word.ends_with("sis") {
        return Cow::Borrowed(word);
    }
    if let Some(stem) = word.strip_suffix("ies") {
        if len > 4 && !IE_NOUNS.contains(&without_s) {
            return Cow::Owned(format!("{stem}y"));
        }
        return Cow::Borrowed(without_s);
    }
    if let Some(without_es) = word.strip_suffix("es") {
        let sibilant = ["ss", "sh", "x", "zz"].iter().any(|end| without_es.ends_with(end));
        let ch = without_es.ends_with("ch") && !CHE_NOUNS.contains(&without_s);
        if sibilant || ch {
            return Cow::Borrowed(without_es);
        }
    }
    // "-oes" (shoes, toes), "-ses" (houses), "-zes" (prizes), "-ves"
    // (gloves) and everything else just lose the "s"; the exceptions are in
    // IRREGULAR.
    Cow::Borrowed(without_s)
}

/// Whether a (singularised) token may be a term: not a stop word, not a lone
/// letter, not a bare number.
fn is_content(raw: &str, lemma: &str, stop: &StopWords) -> bool {
    lemma.chars().nth(1).is_some()
        && !lemma.chars().all(|c| c.is_ascii_digit())
        && !stop.contains(raw)
        && !stop.contains(lemma)
}

/// Terms of one phrase of lowercased tokens: singularised content unigrams
/// and, if `bigrams`, bigrams of two adjacent content words (so a bigram
/// never starts or ends with a stop word, and never bridges one: "dog in
/// park" gives no "dog park"). Bigrams are the two words joined by a space.
pub fn ngrams(tokens: &[String], stop: &StopWords, bigrams: bool) -> Vec<String> {
    let lemmas: Vec<Option<Cow<'_, str>>> = tokens
        .iter()
        .map(|t| {
            let lemma = singularize(t);
            is_content(t, &lemma, stop).then_some(lemma)
        })
        .collect();
    let mut out: Vec<String> = lemmas.iter().flatten().map(|l| l.to_string()).collect();
    if bigrams {
        for pair in lemmas.windows(2) {
            if let [Some(a), Some(b)] = pair {
                if a != b {
                    out.push(format!("{a} {b}"));
                }
            }
        }
    }
    out
}

/// All terms of a caption (see [`ngrams`]), in order, repeats kept.
pub fn caption_terms(caption: &str, stop: &StopWords, bigrams: bool) -> Vec<String> {
    tokenize_phrases(caption).iter().flat_map(|phrase| ngrams(phrase, stop, bigrams)).collect()
}

/// A crude stem for spotting near-duplicate terms the lemmatiser leaves
/// apart ("painting" / "painted" / "paint").
pub(crate) fn light_stem(word: &str) -> &str {
    for suffix in ["ing", "ed", "es", "s"] {
        if let Some(stem) = word.strip_suffix(suffix) {
            if stem.len() >= 3 {
                return stem;
            }
        }
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_lowercases_splits_and_handles_apostrophes() {
        assert_eq!(
            tokenize("The dog's ball, DON'T   touch—it’s Zoë's 2nd toy!"),
            ["the", "dog", "ball", "dont", "touch", "it", "zoë", "2nd", "toy"]
        );
        assert_eq!(tokenize("'quoted' dogs' bowls"), ["quoted", "dogs", "bowls"]);
        assert!(tokenize("").is_empty());
        assert!(tokenize(" ,.;' ").is_empty());
    }

    #[test]
    fn phrases_split_at_punctuation() {
        assert_eq!(
            tokenize_phrases("A red car. Blue sky, green-grass"),
            vec![vec!["a", "red", "car"], vec!["blue", "sky"], vec!["green", "grass"]]
        );
    }

    #[test]
    fn lemmatiser_cases() {
        let cases = [
            ("cats", "cat"),
            ("boxes", "box"),
            ("puppies", "puppy"),
            ("leaves", "leaf"),
            ("glass", "glass"),
            ("bus", "bus"),
            ("grass", "grass"),
            ("buses", "bus"),
            ("glasses", "glasses"),
            ("dresses", "dress"),
            ("benches", "bench"),
            ("dishes", "dish"),
            ("headaches", "headache"),
            ("shoes", "shoe"),
            ("tomatoes", "tomato"),
            ("houses", "house"),
            ("horses", "horse"),
            ("prizes", "prize"),
            ("gloves", "glove"),
            ("knives", "knife"),
            ("movies", "movie"),
            ("pies", "pie"),
            ("flies", "fly"),
            ("children", "child"),
            ("women", "woman"),
            ("firemen", "fireman"),
            ("ramen", "ramen"),
            ("cactus", "cactus"),
            ("famous", "famous"),
            ("analysis", "analysis"),
            ("tennis", "tennis"),
            ("taxis", "taxi"),
            ("series", "series"),
            ("news", "news"),
            ("trees", "tree"),
            ("toys", "toy"),
            ("photos", "photo"),
            ("1990s", "1990s"),
            ("dog", "dog"),
            ("its", "its"),
            ("pandas", "panda"),
            ("beaches", "beach"),
            ("mice", "mouse"),
        ];
        for (plural, singular) in cases {
            assert_eq!(singularize(plural), singular, "{plural}");
        }
    }

    #[test]
    fn stop_words_cover_boilerplate_and_plurals() {
        let stop = StopWords::captions();
        for w in ["the", "image", "images", "features", "appears", "suggests", "scene", "shows"] {
            assert!(stop.is_stop(w), "{w}");
        }
        assert!(!stop.is_stop("dog"));
        assert!(!StopWords::english().is_stop("image"));
        assert!(StopWords::empty().is_empty());
        assert!(STOP_WORDS.len() >= 170);
    }

    #[test]
    fn ngrams_skip_stop_words_and_singularise() {
        let stop = StopWords::captions();
        let terms = caption_terms("The image features two golden retrievers in the park.", &stop, true);
        assert_eq!(terms, ["two", "golden", "retriever", "park", "two golden", "golden retriever"]);
        let unigrams = caption_terms("Dogs in the park, cats.", &stop, false);
        assert_eq!(unigrams, ["dog", "park", "cat"]);
        // Numbers and lone letters are not terms and break bigrams.
        assert_eq!(caption_terms("red 42 car x wheel", &stop, true), ["red", "car", "wheel"]);
    }

    #[test]
    fn light_stem_merges_inflections() {
        assert_eq!(light_stem("painting"), light_stem("painted"));
        assert_eq!(light_stem("paint"), "paint");
        assert_eq!(light_stem("bed"), "bed");
    }
}
