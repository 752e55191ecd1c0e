//! The HR schema: employees, the org chart and job history.

#[allow(unused_imports)]
use super::*;

pub(super) struct Employee {
    pub(super) id: i64,
    pub(super) first: &'static str,
    pub(super) last: &'static str,
    pub(super) email: String,
    pub(super) phone: String,
    pub(super) hire_day: i64,
    pub(super) job: usize,
    pub(super) salary: i64,
    pub(super) commission: Option<f64>,
    pub(super) manager: Option<i64>,
    pub(super) dept: Option<i64>,
}

pub(super) struct HistoryRow {
    pub(super) employee: i64,
    pub(super) start_day: i64,
    pub(super) end_day: i64,
    pub(super) job: usize,
    pub(super) dept: i64,
}

pub(super) struct Hr {
    pub(super) employees: Vec<Employee>,
    /// (department_id, manager employee_id)
    pub(super) heads: Vec<(i64, i64)>,
    pub(super) history: Vec<HistoryRow>,
    /// Sales representatives per sales manager: (employee_id, hire day).
    pub(super) sales_teams: Vec<Vec<(i64, i64)>>,
}

/// Seniority decides hire-date range and where in the salary band someone sits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Tier {
    Ceo,
    Vp,
    Lead,
    Staff,
}

pub(super) struct Slot {
    pub(super) job: usize,
    pub(super) dept: Option<i64>,
    pub(super) manager: Option<usize>,
    pub(super) tier: Tier,
}

/// The org chart: 107 positions with a single root, like the classic HR sample.
pub(super) struct OrgChart {
    pub(super) slots: Vec<Slot>,
    /// (department_id, slot of its manager)
    pub(super) heads: Vec<(i64, usize)>,
    /// Slots of the sales representatives, one list per sales manager.
    pub(super) teams: Vec<Vec<usize>>,
}

/// Positions are fixed; only names, dates and pay are drawn at random.
pub(super) fn org_chart() -> OrgChart {
    let mut slots: Vec<Slot> = Vec::with_capacity(107);
    let mut heads: Vec<(i64, usize)> = Vec::new();
    let mut teams: Vec<Vec<usize>> = Vec::new();
    let mut add = |job: usize, dept: i64, manager: Option<usize>, tier: Tier| {
        slots.push(Slot {
            job,
            dept: Some(dept),
            manager,
            tier,
        });
        slots.len() - 1
    };

    let ceo = add(AD_PRES, 90, None, Tier::Ceo);
    heads.push((90, ceo));
    let vp_ops = add(AD_VP, 90, Some(ceo), Tier::Vp);
    let vp_tech = add(AD_VP, 90, Some(ceo), Tier::Vp);

    let it_lead = add(IT_PROG, 60, Some(vp_tech), Tier::Lead);
    heads.push((60, it_lead));
    for _ in 0..4 {
        add(IT_PROG, 60, Some(it_lead), Tier::Staff);
    }

    let fi_mgr = add(FI_MGR, 100, Some(vp_ops), Tier::Lead);
    heads.push((100, fi_mgr));
    for _ in 0..5 {
        add(FI_ACCOUNT, 100, Some(fi_mgr), Tier::Staff);
    }
    let ac_mgr = add(AC_MGR, 110, Some(vp_ops), Tier::Lead);
    heads.push((110, ac_mgr));
    add(AC_ACCOUNT, 110, Some(ac_mgr), Tier::Staff);

    let pu_man = add(PU_MAN, 30, Some(ceo), Tier::Lead);
    heads.push((30, pu_man));
    for _ in 0..5 {
        add(PU_CLERK, 30, Some(pu_man), Tier::Staff);
    }

    for i in 0..5 {
        let st_man = add(ST_MAN, 50, Some(ceo), Tier::Lead);
        if i == 0 {
            heads.push((50, st_man));
        }
        for _ in 0..4 {
            add(ST_CLERK, 50, Some(st_man), Tier::Staff);
        }
        for _ in 0..4 {
            add(SH_CLERK, 50, Some(st_man), Tier::Staff);
        }
    }

    for i in 0..5 {
        let sa_man = add(SA_MAN, 80, Some(ceo), Tier::Lead);
        if i == 0 {
            heads.push((80, sa_man));
        }
        let mut team = Vec::with_capacity(6);
        for _ in 0..6 {
            team.push(add(SA_REP, 80, Some(sa_man), Tier::Staff));
        }
        teams.push(team);
    }

    let mk_man = add(MK_MAN, 20, Some(ceo), Tier::Lead);
    heads.push((20, mk_man));
    add(MK_REP, 20, Some(mk_man), Tier::Staff);
    let hr = add(HR_REP, 40, Some(vp_ops), Tier::Staff);
    heads.push((40, hr));
    let pr = add(PR_REP, 70, Some(vp_ops), Tier::Staff);
    heads.push((70, pr));
    let asst = add(AD_ASST, 10, Some(ceo), Tier::Staff);
    heads.push((10, asst));

    // One representative without a department, so NULL handling in joins matters.
    if let Some(&last_rep) = teams.last().and_then(|t| t.last())
        && let Some(slot) = slots.get_mut(last_rep)
    {
        slot.dept = None;
    }
    OrgChart {
        slots,
        heads,
        teams,
    }
}

/// Moves weekend dates to the following Monday: people start work on weekdays.
pub(super) fn next_weekday(day: i64) -> i64 {
    match weekday(day) {
        0 => day + 1,
        6 => day + 2,
        _ => day,
    }
}

pub(super) fn generate_hr() -> Hr {
    let mut rng = Rng::stream(1);
    let OrgChart {
        slots,
        heads: head_slots,
        teams: team_slots,
    } = org_chart();
    let ids: Vec<i64> = (0..slots.len() as i64).map(|i| 100 + i).collect();
    let id_of = |slot: usize| ids.get(slot).copied();

    let mut used_names: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut used_emails: BTreeSet<String> = BTreeSet::new();
    let mut employees = Vec::with_capacity(slots.len());
    for (i, slot) in slots.iter().enumerate() {
        let (first, last) = loop {
            let candidate = (rng.pick(&FIRST_NAMES), rng.pick(&LAST_NAMES));
            if used_names.insert(candidate) {
                break candidate;
            }
        };
        let initial: String = ascii_slug(first).chars().take(1).collect();
        let base = format!("{initial}{}", ascii_slug(last));
        let mut email = format!("{base}@corp.example.com");
        let mut n = 2;
        while used_emails.contains(&email) {
            email = format!("{base}{n}@corp.example.com");
            n += 1;
        }
        used_emails.insert(email.clone());

        let (from, to) = match slot.tier {
            Tier::Ceo => (days_from_civil(2001, 1, 1), days_from_civil(2001, 12, 31)),
            Tier::Vp => (days_from_civil(2001, 6, 1), days_from_civil(2006, 12, 31)),
            Tier::Lead => (days_from_civil(2002, 1, 1), days_from_civil(2018, 12, 31)),
            Tier::Staff => (days_from_civil(2005, 1, 1), days_from_civil(2025, 11, 28)),
        };
        let hire_day = next_weekday(rng.range(from, to));

        let band = job_def(slot.job);
        let (lo_pct, hi_pct) = match slot.tier {
            Tier::Ceo | Tier::Vp | Tier::Lead => (50, 100),
            Tier::Staff => (0, 85),
        };
        let pct = rng.range(lo_pct, hi_pct);
        let raw = band.min + (band.max - band.min) * pct / 100;
        let salary = (raw / 500 * 500).clamp(band.min, band.max);

        let commission = match slot.job {
            SA_MAN => Some(rng.pick(&[0.2, 0.25, 0.3])),
            SA_REP => Some(rng.pick(&[0.1, 0.15, 0.2, 0.25, 0.3])),
            _ => None,
        };

        let office = slot
            .dept
            .and_then(|d| DEPARTMENTS.iter().find(|x| x.0 == d))
            .and_then(|x| x.2)
            .and_then(|loc| LOCATIONS.iter().find(|l| l.id == loc))
            .unwrap_or(&LOCATIONS[0]);
        let mut phone = String::from(office.phone);
        for _ in 0..office.digits {
            phone.push(char::from(b'0' + rng.below(10) as u8));
        }

        employees.push(Employee {
            id: 100 + i as i64,
            first,
            last,
            email,
            phone,
            hire_day,
            job: slot.job,
            salary,
            commission,
            manager: slot.manager.and_then(id_of),
            dept: slot.dept,
        });
    }

    let history = generate_history(&mut rng, &employees);
    let heads = head_slots
        .iter()
        .filter_map(|&(dept, slot)| id_of(slot).map(|id| (dept, id)))
        .collect();
    let sales_teams = team_slots
        .iter()
        .map(|team| {
            team.iter()
                .filter_map(|&s| employees.get(s).map(|e| (e.id, e.hire_day)))
                .collect()
        })
        .collect();
    Hr {
        employees,
        heads,
        history,
        sales_teams,
    }
}

/// Earlier positions for long-serving staff: each ends before the current job began.
pub(super) fn generate_history(rng: &mut Rng, employees: &[Employee]) -> Vec<HistoryRow> {
    let cutoff = days_from_civil(2020, 1, 1);
    let latest_end = days_from_civil(2025, 6, 30);
    let mut rows = Vec::new();
    for e in employees {
        if rows.len() >= 24 || e.hire_day >= cutoff || !rng.percent(30) {
            continue;
        }
        let Some(prev) = previous_job(e.job) else {
            continue;
        };
        let end = (e.hire_day + rng.range(400, 2200)).min(latest_end);
        if end <= e.hire_day {
            continue;
        }
        // Some people moved twice: e.g. rep -> manager -> VP.
        let earlier = previous_job(prev).filter(|_| rng.percent(30));
        let mut start = e.hire_day;
        if let Some(first_job) = earlier {
            let mid = start + (end - start) / 2;
            rows.push(HistoryRow {
                employee: e.id,
                start_day: start,
                end_day: mid,
                job: first_job,
                dept: job_def(first_job).dept,
            });
            start = mid + 1;
        }
        if end > start {
            rows.push(HistoryRow {
                employee: e.id,
                start_day: start,
                end_day: end,
                job: prev,
                dept: job_def(prev).dept,
            });
        }
    }
    rows
}

pub(super) fn insert_hr(tx: &Transaction<'_>, hr: &Hr) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare("INSERT INTO regions VALUES (?1, ?2)")?;
    for (id, name) in REGIONS {
        stmt.execute(params![id, name])?;
    }
    let mut stmt = tx.prepare("INSERT INTO countries VALUES (?1, ?2, ?3)")?;
    for c in &COUNTRIES {
        stmt.execute(params![c.id, c.name, c.region])?;
    }
    let mut stmt = tx.prepare("INSERT INTO locations VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    for l in &LOCATIONS {
        stmt.execute(params![
            l.id, l.street, l.postal, l.city, l.state, l.country
        ])?;
    }
    let mut stmt = tx.prepare("INSERT INTO departments VALUES (?1, ?2, ?3, ?4)")?;
    for (id, name, loc) in DEPARTMENTS {
        let manager = hr.heads.iter().find(|h| h.0 == id).map(|h| h.1);
        stmt.execute(params![id, name, manager, loc])?;
    }
    let mut stmt = tx.prepare("INSERT INTO jobs VALUES (?1, ?2, ?3, ?4)")?;
    for j in &JOBS {
        stmt.execute(params![j.id, j.title, j.min, j.max])?;
    }
    let mut stmt =
        tx.prepare("INSERT INTO employees VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")?;
    for e in &hr.employees {
        stmt.execute(params![
            e.id,
            e.first,
            e.last,
            e.email,
            e.phone,
            date_string(e.hire_day),
            job_def(e.job).id,
            e.salary,
            e.commission,
            e.manager,
            e.dept,
        ])?;
    }
    let mut stmt = tx.prepare("INSERT INTO job_history VALUES (?1, ?2, ?3, ?4, ?5)")?;
    for h in &hr.history {
        stmt.execute(params![
            h.employee,
            date_string(h.start_day),
            date_string(h.end_day),
            job_def(h.job).id,
            h.dept,
        ])?;
    }
    Ok(())
}
