//! Orders and order items (10,000 orders per scale unit).

#[allow(unused_imports)]
use super::*;

/// Orders per month relative to an average month (January .. December).
pub(super) const MONTH_FACTOR: [u64; 12] = [80, 85, 95, 95, 100, 95, 90, 90, 100, 105, 135, 150];
/// Orders per weekday relative to an average day (Sunday .. Saturday).
pub(super) const WEEKDAY_FACTOR: [u64; 7] = [70, 105, 110, 110, 105, 100, 75];
/// How many lines an order has: 1..=6 lines, about 2.6 on average.
pub(super) const LINE_WEIGHTS: [u32; 6] = [30, 25, 20, 12, 8, 5];

/// Black Friday and Cyber Monday of `year` (Thanksgiving is the fourth Thursday of November).
pub(super) fn shopping_peaks(year: i64) -> (i64, i64) {
    let nov1 = days_from_civil(year, 11, 1);
    let first_thursday = nov1 + (4 + 7 - weekday(nov1) as i64) % 7;
    let thanksgiving = first_thursday + 21;
    (thanksgiving + 1, thanksgiving + 4)
}

/// Relative order volume for each day: growth, seasonality, weekday pattern, shopping peaks, noise.
pub(super) fn order_day_weights(rng: &mut Rng, first_day: i64, n_days: usize) -> Vec<u64> {
    (0..n_days)
        .map(|i| {
            let day = first_day + i as i64;
            let (y, m, d) = civil_from_days(day);
            let (black_friday, cyber_monday) = shopping_peaks(y);
            let growth = 1000 + 800 * i as u64 / n_days as u64;
            let month = MONTH_FACTOR[(m.clamp(1, 12) - 1) as usize];
            let dow = WEEKDAY_FACTOR[weekday(day)];
            let event = if day == black_friday {
                300
            } else if day == cyber_monday {
                220
            } else if m == 12 && (d == 25 || d == 26) || (m == 1 && d == 1) {
                40
            } else {
                100
            };
            growth * month * dow * event * (85 + rng.below(31))
        })
        .collect()
}

/// Status follows age: recent orders are still open, old ones mostly delivered.
pub(super) fn order_status(rng: &mut Rng, age_secs: i64) -> &'static str {
    const DAY: i64 = SECS_PER_DAY;
    let (names, weights): (&[&'static str], &[u32]) = if age_secs < 3 * DAY {
        (&["pending", "shipped", "cancelled"], &[60, 38, 2])
    } else if age_secs < 10 * DAY {
        (
            &["pending", "shipped", "delivered", "cancelled"],
            &[8, 62, 28, 2],
        )
    } else {
        (&["delivered", "cancelled", "returned"], &[925, 40, 35])
    };
    names
        .get(rng.weighted(weights))
        .copied()
        .unwrap_or("delivered")
}

/// Units per line: consumers buy one or two, organisations buy in bulk.
pub(super) fn quantity(rng: &mut Rng, segment: Segment) -> i64 {
    let small_pick = |rng: &mut Rng, max: u64| 1 + rng.below(max).min(rng.below(max)) as i64;
    match segment {
        Segment::Consumer => 1 + rng.weighted(&[70, 20, 6, 4]) as i64,
        Segment::SmallBusiness => small_pick(rng, 10),
        Segment::Enterprise => small_pick(rng, 50),
        Segment::PublicSector => small_pick(rng, 25),
    }
}

/// Discount in percent (0, 5, 10 or 15): mostly none, more likely on bulk business lines.
pub(super) fn discount_pct(rng: &mut Rng, segment: Segment, qty: i64) -> i64 {
    let weights: &[u32] = if segment == Segment::Consumer {
        &[92, 6, 2, 0]
    } else if qty >= 20 {
        &[50, 20, 20, 10]
    } else if qty >= 5 {
        &[75, 15, 8, 2]
    } else {
        &[90, 7, 3, 0]
    };
    5 * rng.weighted(weights) as i64
}

/// Sum of `quantity * unit_price * (1 - discount)` in cents, computed exactly in 1/10,000 USD.
///
/// A sum ending in exactly half a cent would round differently in floating-point SQL than here,
/// so such ties are broken by dropping a line's discount: then `ROUND(SUM(...), 2)` in SQL
/// reproduces `total_amount` exactly. Lines are (product index, quantity, unit cents, discount %).
pub(super) fn order_total_cents(lines: &mut [(usize, i64, i64, i64)]) -> i64 {
    loop {
        let exact: i64 = lines
            .iter()
            .map(|&(_, q, unit, d)| q * unit * (100 - d))
            .sum();
        if exact % 100 != 50 {
            return (exact + 50) / 100;
        }
        // Undiscounted lines are whole cents, so a tie implies a discounted line exists.
        match lines.iter_mut().rev().find(|l| l.3 > 0) {
            Some(line) => line.3 = 0,
            None => return (exact + 50) / 100,
        }
    }
}

pub(super) fn insert_orders(
    tx: &Transaction<'_>,
    scale: u32,
    customers: &Customers,
    catalog: &Catalog,
) -> rusqlite::Result<()> {
    let mut rng = Rng::stream(4);
    let total = ORDERS_PER_SCALE * u64::from(scale);
    let first_day = days_from_civil(2022, 1, 1);
    let last_day = days_from_civil(2025, 12, 31);
    let n_days = (last_day - first_day + 1) as usize;
    let end_of_data = (last_day + 1) * SECS_PER_DAY;
    // Discontinued products stop selling from this day on.
    let discontinued_from = days_from_civil(2024, 7, 1);
    let weights = order_day_weights(&mut rng, first_day, n_days);
    let counts = spread(total, &weights);

    let mut order_stmt = tx.prepare("INSERT INTO orders VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    let mut item_stmt = tx.prepare("INSERT INTO order_items VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    let mut times: Vec<u32> = Vec::new();
    let mut ts_buf = String::with_capacity(19);
    let mut lines: Vec<(usize, i64, i64, i64)> = Vec::with_capacity(LINE_WEIGHTS.len());
    let mut eligible = 0usize;
    let mut order_id = 0i64;
    for (i, &count) in counts.iter().enumerate() {
        let day = first_day + i as i64;
        let (year, _, _) = civil_from_days(day);
        // Older orders were sold at lower prices: 3 % less per year before 2025.
        let price_pct = 100 - 3 * (2025 - year).clamp(0, 10);
        times.clear();
        times.extend((0..count).map(|_| rng.time_of_day(&ORDER_HOURS)));
        times.sort_unstable();
        for &sod in &times {
            order_id += 1;
            let ts = day * SECS_PER_DAY + i64::from(sod);
            while customers.created.get(eligible).is_some_and(|&c| c <= ts) {
                eligible += 1;
            }
            let cust = customers.pick(&mut rng, eligible);
            let segment = customers
                .segment
                .get(cust)
                .copied()
                .unwrap_or(Segment::Consumer);

            lines.clear();
            let wanted = 1 + rng.weighted(&LINE_WEIGHTS);
            for _ in 0..wanted {
                for _attempt in 0..8 {
                    let p = catalog.pick(&mut rng);
                    let retired = catalog.discontinued.get(p).copied().unwrap_or(true)
                        && day >= discontinued_from;
                    if retired || lines.iter().any(|l| l.0 == p) {
                        continue;
                    }
                    let qty = quantity(&mut rng, segment);
                    let list = catalog.list_cents.get(p).copied().unwrap_or(100);
                    let unit = (list * price_pct + 50) / 100;
                    lines.push((p, qty, unit, discount_pct(&mut rng, segment, qty)));
                    break;
                }
            }
            if lines.is_empty() {
                // Every order has at least one line: fall back to the first product still on sale.
                let p = catalog.discontinued.iter().position(|&d| !d).unwrap_or(0);
                let list = catalog.list_cents.get(p).copied().unwrap_or(100);
                lines.push((p, 1, (list * price_pct + 50) / 100, 0));
            }
            let total_cents = order_total_cents(&mut lines);

            let status = order_status(&mut rng, end_of_data - ts);
            let rep = customers
                .rep
                .get(cust)
                .copied()
                .flatten()
                .filter(|&(_, hired)| hired <= day)
                .map(|(id, _)| id);
            ts_buf.clear();
            push_timestamp(&mut ts_buf, ts);
            order_stmt.execute(params![
                order_id,
                cust as i64 + 1,
                ts_buf,
                status,
                rep,
                dollars(total_cents)
            ])?;
            for (n, &(p, qty, unit, disc)) in lines.iter().enumerate() {
                item_stmt.execute(params![
                    order_id,
                    n as i64 + 1,
                    p as i64 + 1,
                    qty,
                    dollars(unit),
                    disc as f64 / 100.0,
                ])?;
            }
        }
    }
    Ok(())
}
