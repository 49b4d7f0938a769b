//! A built-in vocabulary of visual concepts (in the spirit of TAC's noun vocabulary), used as
//! candidate criterion values for images that have no captions to mine terms from. General,
//! not drawn from any evaluation set: objects, animals, people, places, scenes, weather, times,
//! colours, materials, garments, styles, moods, activities, instruments, vehicles, food.

pub const BUILTIN_TERMS: &[&str] = &[
    // objects and household
    "chair", "table", "sofa", "bed", "lamp", "clock", "book", "cup", "bottle", "vase", "plant", "window", "door",
    "mirror", "television", "computer", "phone", "camera", "bag", "umbrella", "toy", "ball", "knife", "bowl",
    "plate", "glass", "box", "basket", "candle", "painting", "sculpture", "statue", "sign", "flag", "bench",
    "fence", "bridge", "tower", "building", "house", "church", "castle", "tent", "ladder", "rope", "tool",
    // animals
    "dog", "cat", "horse", "cow", "sheep", "pig", "goat", "deer", "bird", "eagle", "owl", "parrot", "chicken",
    "duck", "fish", "shark", "whale", "dolphin", "frog", "snake", "lizard", "turtle", "insect", "butterfly",
    "bee", "spider", "bear", "lion", "tiger", "elephant", "giraffe", "zebra", "monkey", "rabbit", "mouse",
    "squirrel", "fox", "wolf", "camel", "kangaroo", "penguin",
    // people
    "man", "woman", "child", "baby", "boy", "girl", "old person", "family", "crowd", "couple", "athlete",
    "musician", "dancer", "soldier", "worker", "doctor", "chef", "student", "teacher", "farmer",
    // vehicles
    "car", "truck", "bus", "train", "airplane", "helicopter", "ship", "boat", "sailboat", "bicycle",
    "motorcycle", "tractor", "rocket", "taxi", "ambulance",
    // places and scenes
    "beach", "ocean", "lake", "river", "waterfall", "mountain", "hill", "forest", "jungle", "desert", "field",
    "meadow", "garden", "park", "farm", "village", "city", "street", "road", "highway", "harbor", "airport",
    "station", "market", "shop", "restaurant", "cafe", "kitchen", "bedroom", "living room", "office",
    "classroom", "library", "museum", "hospital", "stadium", "gym", "theater", "concert", "stage", "studio",
    "factory", "warehouse", "church interior", "temple", "cave", "island", "glacier", "snowfield", "canyon",
    "volcano", "swamp", "countryside", "suburb", "skyline", "underwater", "space",
    // weather, season, time
    "sunny", "cloudy", "rainy", "snowy", "foggy", "stormy", "windy", "spring", "summer", "autumn", "winter",
    "morning", "noon", "sunset", "sunrise", "night", "dusk",
    // colours
    "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray", "gold",
    "silver", "beige", "navy", "maroon", "turquoise", "colorful", "monochrome",
    // materials and textures
    "wood", "metal", "stone", "glass material", "plastic", "leather", "cotton", "wool", "silk", "denim",
    "paper", "fabric", "concrete", "brick", "marble",
    // garments and accessories
    "shirt", "t-shirt", "dress", "skirt", "jeans", "trousers", "shorts", "jacket", "coat", "sweater", "suit",
    "uniform", "shoe", "sneaker", "boot", "sandal", "hat", "cap", "scarf", "glove", "sock", "watch",
    "handbag", "backpack", "belt", "sunglasses", "jewelry", "necklace", "earring", "ring", "tie", "swimsuit",
    "sportswear", "formal wear", "casual wear", "ethnic wear", "perfume", "cosmetics", "wallet",
    // styles and media
    "photograph", "drawing", "sketch", "oil painting", "watercolor", "cartoon", "anime", "pixel art",
    "3d render", "abstract art", "impressionism", "cubism", "surrealism", "pop art", "minimalism",
    "baroque", "renaissance", "gothic", "vintage", "modern", "futuristic", "retro", "black and white photo",
    "portrait", "landscape", "still life", "close-up", "aerial view",
    // moods
    "happy", "sad", "calm", "peaceful", "joyful", "gloomy", "mysterious", "romantic", "energetic", "tense",
    "scary", "lonely", "cozy", "melancholic", "playful", "dramatic", "serene", "chaotic", "nostalgic",
    "angry", "excited", "relaxed",
    // activities
    "running", "walking", "swimming", "cycling", "skiing", "surfing", "climbing", "dancing", "singing",
    "cooking", "eating", "reading", "writing", "sleeping", "playing", "working", "fighting", "fishing",
    "shopping", "traveling", "celebrating", "praying", "studying", "painting activity",
    // sports
    "football", "soccer", "basketball", "tennis", "baseball", "golf", "boxing", "hockey", "volleyball",
    "cricket", "rugby",
    // musical instruments
    "guitar", "violin", "cello", "piano", "drum", "trumpet", "saxophone", "flute", "clarinet", "harp",
    "trombone", "tuba", "harmonica", "accordion", "banjo", "ukulele", "bass guitar", "oboe", "french horn",
    "xylophone", "keyboard",
    // food
    "fruit", "apple", "banana", "orange fruit", "vegetable", "bread", "cake", "pizza", "burger", "salad",
    "soup", "rice", "noodles", "meat", "cheese", "coffee", "tea", "wine", "beer", "ice cream", "chocolate",
    "sandwich", "sushi", "dessert",
];
