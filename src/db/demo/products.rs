//! Product categories and the product catalogue (fixed size).

#[allow(unused_imports)]
use super::*;

pub(super) struct CategoryDef {
    pub(super) name: &'static str,
    pub(super) items: &'static [&'static str],
    /// List price range in cents.
    pub(super) min_cents: i64,
    pub(super) max_cents: i64,
    /// How much more often than average this category is bought.
    pub(super) popularity: u64,
}

pub(super) const fn category(
    name: &'static str,
    items: &'static [&'static str],
    min_cents: i64,
    max_cents: i64,
    popularity: u64,
) -> CategoryDef {
    CategoryDef {
        name,
        items,
        min_cents,
        max_cents,
        popularity,
    }
}

pub(super) const CATEGORIES: [CategoryDef; 10] = [
    category(
        "Laptops",
        &[
            "Laptop 14",
            "Laptop 16",
            "Ultrabook 13",
            "Notebook 15",
            "Convertible 14",
            "Workstation Laptop 17",
        ],
        49_900,
        349_900,
        2,
    ),
    category(
        "Desktops",
        &[
            "Tower PC",
            "Mini PC",
            "All-in-One 24",
            "Workstation",
            "Compact Desktop",
        ],
        39_900,
        399_900,
        1,
    ),
    category(
        "Monitors",
        &[
            "24\" FHD Monitor",
            "27\" QHD Monitor",
            "32\" 4K Monitor",
            "34\" Ultrawide Monitor",
            "Portable Monitor 15",
        ],
        12_900,
        149_900,
        2,
    ),
    category(
        "Peripherals",
        &[
            "Wireless Mouse",
            "Mechanical Keyboard",
            "Webcam 1080p",
            "Docking Station",
            "Ergonomic Keyboard",
            "Presenter Remote",
        ],
        1_900,
        29_900,
        5,
    ),
    category(
        "Networking",
        &[
            "Wi-Fi 6 Router",
            "Mesh Wi-Fi Kit",
            "8-Port Switch",
            "24-Port Managed Switch",
            "Access Point",
            "Firewall Appliance",
        ],
        4_900,
        249_900,
        2,
    ),
    category(
        "Storage",
        &[
            "Portable SSD 1TB",
            "NVMe SSD 2TB",
            "External HDD 4TB",
            "NAS 4-Bay",
            "USB Flash Drive 128GB",
        ],
        1_500,
        89_900,
        4,
    ),
    category(
        "Audio",
        &[
            "Noise-Cancelling Headphones",
            "Wireless Earbuds",
            "Conference Speakerphone",
            "USB Headset",
            "Bluetooth Speaker",
        ],
        2_900,
        44_900,
        4,
    ),
    category(
        "Printers & Supplies",
        &[
            "Laser Printer",
            "Inkjet All-in-One",
            "Label Printer",
            "Toner Cartridge",
            "Photo Paper A4 (100 sheets)",
        ],
        1_200,
        119_900,
        3,
    ),
    category(
        "Office Furniture",
        &[
            "Standing Desk",
            "Ergonomic Chair",
            "Monitor Arm",
            "Filing Cabinet",
            "Desk Lamp",
        ],
        3_900,
        129_900,
        2,
    ),
    category(
        "Software",
        &[
            "Office Suite (1-year)",
            "Antivirus (3 devices)",
            "Cloud Backup 1TB (1-year)",
            "Photo Editor",
            "Project Planner (1-year)",
        ],
        2_900,
        59_900,
        3,
    ),
];

pub(super) const PRODUCTS_PER_CATEGORY: usize = 20;

pub(super) const BRANDS: [&str; 12] = [
    "Apex", "Nimbus", "Vertex", "Orion", "Lumen", "Kestrel", "Cobalt", "Helix", "Tundra", "Quanta",
    "Aurora", "Zephyr",
];

pub(super) const SERIES: [&str; 11] = [
    "", "Pro", "Air", "Max", "Mini", "Plus", "X", "Lite", "Elite", "S", "Ultra",
];

/// What order generation needs to know about products.
pub(super) struct Catalog {
    pub(super) list_cents: Vec<i64>,
    /// Running sum of popularity weights, for weighted picks by binary search.
    pub(super) cum_weight: Vec<u64>,
    pub(super) discontinued: Vec<bool>,
}

impl Catalog {
    pub(super) fn pick(&self, rng: &mut Rng) -> usize {
        let total = self.cum_weight.last().copied().unwrap_or(0);
        let r = rng.below(total);
        self.cum_weight.partition_point(|&c| c <= r)
    }
}

pub(super) fn insert_products(tx: &Transaction<'_>) -> rusqlite::Result<Catalog> {
    let mut rng = Rng::stream(2);
    let mut stmt = tx.prepare("INSERT INTO products VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut catalog = Catalog {
        list_cents: Vec::new(),
        cum_weight: Vec::new(),
        discontinued: Vec::new(),
    };
    let mut cum = 0u64;
    let mut id = 0i64;
    for cat in &CATEGORIES {
        for _ in 0..PRODUCTS_PER_CATEGORY {
            id += 1;
            let mut name = String::new();
            for attempt in 0..100 {
                let item = cat
                    .items
                    .get(rng.below(cat.items.len() as u64) as usize)
                    .copied()
                    .unwrap_or(cat.name);
                let series = rng.pick(&SERIES);
                name = format!("{} {item}", rng.pick(&BRANDS));
                if !series.is_empty() {
                    name.push(' ');
                    name.push_str(series);
                }
                if attempt == 99 {
                    name.push_str(&format!(" ({id})"));
                }
                if !names.contains(&name) {
                    break;
                }
            }
            names.insert(name.clone());

            // Squared uniform skews prices towards the cheap end of the range.
            let u = rng.below(1000) as i64;
            let raw = cat.min_cents + (cat.max_cents - cat.min_cents) * u * u / 1_000_000;
            let whole = (raw / 100).max(1);
            let ending = [99, 95, 49, 0][rng.weighted(&[55, 15, 15, 15])];
            let list = if ending == 0 {
                whole * 100
            } else {
                (whole - 1).max(0) * 100 + ending
            };
            let cost = list * rng.range(45, 78) / 100;
            let discontinued = rng.percent(8);

            stmt.execute(params![
                id,
                name,
                cat.name,
                dollars(list),
                dollars(cost),
                discontinued as i64
            ])?;
            cum += rng.heavy_tail(300) * cat.popularity;
            catalog.list_cents.push(list);
            catalog.cum_weight.push(cum);
            catalog.discontinued.push(discontinued);
        }
    }
    Ok(catalog)
}
