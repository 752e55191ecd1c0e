//! Customers (1,000 per scale unit).

#[allow(unused_imports)]
use super::*;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Segment {
    Consumer,
    SmallBusiness,
    Enterprise,
    PublicSector,
}

impl Segment {
    /// Share of new customers: mostly consumers, a few large organisations.
    pub(super) fn draw(rng: &mut Rng) -> Self {
        match rng.weighted(&[60, 25, 7, 8]) {
            0 => Self::Consumer,
            1 => Self::SmallBusiness,
            2 => Self::Enterprise,
            _ => Self::PublicSector,
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Consumer => "consumer",
            Self::SmallBusiness => "small_business",
            Self::Enterprise => "enterprise",
            Self::PublicSector => "public_sector",
        }
    }

    /// Relative order frequency: organisations order more often than consumers.
    pub(super) fn order_factor(self) -> u64 {
        match self {
            Self::Consumer => 2,
            Self::SmallBusiness => 3,
            Self::Enterprise => 6,
            Self::PublicSector => 4,
        }
    }
}

pub(super) const COMPANY_WORDS: [&str; 30] = [
    "Bluewater",
    "Redwood",
    "Silverline",
    "Ironbridge",
    "Brightpath",
    "Clearview",
    "Evergreen",
    "Granite",
    "Harborview",
    "Keystone",
    "Lakeside",
    "Maplewood",
    "Northstar",
    "Oakridge",
    "Pinecrest",
    "Riverbend",
    "Summit",
    "Sunrise",
    "Westfield",
    "Copperleaf",
    "Falcon",
    "Horizon",
    "Juniper",
    "Meridian",
    "Orchard",
    "Quarry",
    "Sterling",
    "Tidewater",
    "Willow",
    "Zenith",
];

pub(super) const SMALL_TRADES: [&str; 20] = [
    "Bakery",
    "Dental",
    "Design",
    "Consulting",
    "Builders",
    "Florist",
    "Legal",
    "Accounting",
    "Print Shop",
    "Studios",
    "Fitness",
    "Cafe",
    "Veterinary",
    "Plumbing",
    "Realty",
    "Travel",
    "Optics",
    "Auto Repair",
    "Architects",
    "Tutoring",
];

pub(super) const INDUSTRIES: [&str; 15] = [
    "Logistics",
    "Manufacturing",
    "Pharmaceuticals",
    "Energy",
    "Financial",
    "Insurance",
    "Retail",
    "Telecom",
    "Foods",
    "Aerospace",
    "Analytics",
    "Health Systems",
    "Motors",
    "Media",
    "Chemicals",
];

pub(super) const ENTERPRISE_TAILS: [&str; 6] = [
    "Group",
    "Holdings",
    "International",
    "Corporation",
    "Partners",
    "Industries",
];

pub(super) const PUBLIC_BODIES: [&str; 7] = [
    "City of {}",
    "{} Public Library",
    "{} School District",
    "{} General Hospital",
    "{} Water Authority",
    "{} Transit Authority",
    "University of {}",
];

pub(super) const MAIL_LOCAL_PARTS: [&str; 5] =
    ["billing", "purchasing", "accounts", "orders", "info"];

/// Company-name suffixes as used in each country.
pub(super) fn legal_suffixes(country: &str) -> &'static [&'static str] {
    match country {
        "US" | "CA" => &["Inc.", "LLC", "Corp."],
        "DE" | "CH" => &["GmbH", "AG"],
        "FR" => &["SA", "SARL"],
        "ES" | "MX" | "AR" => &["S.A.", "S.L."],
        "IT" => &["S.p.A.", "S.r.l."],
        "NL" => &["B.V.", "N.V."],
        "DK" => &["A/S"],
        "SE" => &["AB"],
        "JP" => &["K.K."],
        "CN" => &["Co., Ltd."],
        "BR" => &["Ltda.", "S.A."],
        "AE" | "EG" => &["LLC"],
        _ => &["Ltd"],
    }
}

/// What order generation needs to know about customers, indexed by customer_id - 1.
pub(super) struct Customers {
    /// Creation time in epoch seconds, ascending.
    pub(super) created: Vec<i64>,
    /// Running sum of order-frequency weights (Zipf-like skew).
    pub(super) cum_weight: Vec<u64>,
    pub(super) segment: Vec<Segment>,
    /// Account manager (employee_id, hire day) for business customers.
    pub(super) rep: Vec<Option<(i64, i64)>>,
}

impl Customers {
    /// Weighted pick among the first `eligible` customers (those existing at order time).
    pub(super) fn pick(&self, rng: &mut Rng, eligible: usize) -> usize {
        let eligible = eligible.clamp(1, self.cum_weight.len().max(1));
        let total = self.cum_weight.get(eligible - 1).copied().unwrap_or(0);
        let r = rng.below(total);
        self.cum_weight
            .partition_point(|&c| c <= r)
            .min(eligible - 1)
    }
}

/// Sales team covering a region: Europe, US, rest of the Americas, Asia-Pacific, Middle East and Africa.
pub(super) fn sales_team_for(country: Option<&CountryDef>, rng: &mut Rng) -> usize {
    match country {
        Some(c) if c.region == 1 => 0,
        Some(c) if c.id == "US" => 1,
        Some(c) if c.region == 2 => 2,
        Some(c) if c.region == 3 || c.region == 5 => 3,
        Some(_) => 4,
        None => rng.below(5) as usize,
    }
}

pub(super) fn insert_customers(
    tx: &Transaction<'_>,
    scale: u32,
    hr: &Hr,
) -> rusqlite::Result<Customers> {
    let mut rng = Rng::stream(3);
    let total = CUSTOMERS_PER_SCALE * u64::from(scale);
    let first_day = days_from_civil(2019, 1, 1);
    let last_day = days_from_civil(2025, 12, 31);
    let n_days = (last_day - first_day + 1) as usize;
    // Sign-ups grow over time and dip at weekends.
    let weights: Vec<u64> = (0..n_days)
        .map(|i| {
            let day = first_day + i as i64;
            let growth = 1000 + 1500 * i as u64 / n_days as u64;
            let dow = [60, 110, 110, 110, 105, 100, 65][weekday(day)];
            growth * dow * (80 + rng.below(41))
        })
        .collect();
    let counts = spread(total, &weights);
    let country_weights: Vec<u32> = COUNTRIES.iter().map(|c| c.weight).collect();

    let mut out = Customers {
        created: Vec::with_capacity(total as usize),
        cum_weight: Vec::with_capacity(total as usize),
        segment: Vec::with_capacity(total as usize),
        rep: Vec::with_capacity(total as usize),
    };
    let mut stmt = tx.prepare("INSERT INTO customers VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
    let mut times: Vec<u32> = Vec::new();
    let mut ts_buf = String::with_capacity(19);
    let mut cum = 0u64;
    let mut id = 0i64;
    for (i, &count) in counts.iter().enumerate() {
        let day = first_day + i as i64;
        times.clear();
        times.extend((0..count).map(|_| rng.time_of_day(&ORDER_HOURS)));
        times.sort_unstable();
        for &sod in &times {
            id += 1;
            let created = day * SECS_PER_DAY + i64::from(sod);
            let segment = Segment::draw(&mut rng);
            let country = if segment == Segment::Consumer && rng.below(200) == 0 {
                None
            } else {
                COUNTRIES.get(rng.weighted(&country_weights))
            };
            let city = country.and_then(|c| {
                c.cities
                    .get(rng.below(c.cities.len() as u64) as usize)
                    .copied()
            });

            let (name, email) = customer_identity(
                &mut rng,
                id,
                segment,
                country,
                city.unwrap_or("Springfield"),
            );
            let email = email.filter(|_| rng.below(1000) >= 15);
            let credit_limit: Option<i64> = match segment {
                Segment::Consumer => Some(rng.range(5, 50) * 100).filter(|_| !rng.percent(10)),
                Segment::SmallBusiness => Some(rng.range(10, 100) * 500),
                Segment::Enterprise => Some(rng.range(10, 100) * 5_000),
                Segment::PublicSector => Some(rng.range(5, 50) * 5_000),
            };
            ts_buf.clear();
            push_timestamp(&mut ts_buf, created);
            stmt.execute(params![
                id,
                name,
                email,
                city,
                country.map(|c| c.id),
                segment.as_str(),
                ts_buf,
                credit_limit,
            ])?;

            let rep = if segment == Segment::Consumer {
                None
            } else {
                let team = sales_team_for(country, &mut rng);
                hr.sales_teams
                    .get(team)
                    .and_then(|t| t.get(rng.below(t.len() as u64) as usize))
                    .copied()
            };
            cum += rng.heavy_tail(50) * segment.order_factor();
            out.created.push(created);
            out.cum_weight.push(cum);
            out.segment.push(segment);
            out.rep.push(rep);
        }
    }
    Ok(out)
}

/// Name and e-mail address that fit the segment and country.
pub(super) fn customer_identity(
    rng: &mut Rng,
    id: i64,
    segment: Segment,
    country: Option<&CountryDef>,
    city: &str,
) -> (String, Option<String>) {
    let country_id = country.map_or("US", |c| c.id);
    let suffixes = legal_suffixes(country_id);
    let suffix = suffixes
        .get(rng.below(suffixes.len() as u64) as usize)
        .copied()
        .unwrap_or("Ltd");
    match segment {
        Segment::Consumer => {
            let first = rng.pick(&FIRST_NAMES);
            let last = rng.pick(&LAST_NAMES);
            let domain = rng.pick(&["example.com", "example.net", "example.org"]);
            let email = format!("{}.{}{id}@{domain}", ascii_slug(first), ascii_slug(last));
            (format!("{first} {last}"), Some(email))
        }
        Segment::SmallBusiness => {
            let name = format!(
                "{} {} {suffix}",
                rng.pick(&COMPANY_WORDS),
                rng.pick(&SMALL_TRADES)
            );
            (name.clone(), Some(company_email(rng, id, &name, suffix)))
        }
        Segment::Enterprise => {
            let name = format!(
                "{} {} {} {suffix}",
                rng.pick(&COMPANY_WORDS),
                rng.pick(&INDUSTRIES),
                rng.pick(&ENTERPRISE_TAILS)
            );
            (name.clone(), Some(company_email(rng, id, &name, suffix)))
        }
        Segment::PublicSector => {
            let name = rng.pick(&PUBLIC_BODIES).replace("{}", city);
            let slug = ascii_slug(&name);
            let email = format!("procurement.{id}@{slug}.example.org");
            (name, Some(email))
        }
    }
}

pub(super) fn company_email(rng: &mut Rng, id: i64, name: &str, suffix: &str) -> String {
    let stem = name.strip_suffix(suffix).unwrap_or(name);
    format!(
        "{}.{id}@{}.example.com",
        rng.pick(&MAIL_LOCAL_PARTS),
        ascii_slug(stem)
    )
}
