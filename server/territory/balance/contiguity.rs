//! Contiguity: every zone gets a territory it touches ([`flood`]), and every territory
//! becomes one piece ([`repair`]).

use super::refine::Nodes;
use crate::territory::tiling::{Graph, NONE, components};

/// Gives every `NONE` node the territory of a neighbour, breadth-first from assigned nodes
/// (so each joins a territory it touches); nodes no assigned node reaches get the territory
/// whose assigned nodes' centre is nearest.
pub(crate) fn flood(g: &Graph, nodes: &Nodes, assign: &mut [u32], k: usize) {
    let mut queue: std::collections::VecDeque<u32> = (0..assign.len() as u32)
        .filter(|&i| assign[i as usize] != NONE)
        .collect();
    while let Some(i) = queue.pop_front() {
        let t = assign[i as usize];
        for &j in g.neighbours(i as usize) {
            if assign[j as usize] == NONE {
                assign[j as usize] = t;
                queue.push_back(j);
            }
        }
    }
    if assign.contains(&NONE) {
        let mut s = vec![[0.0f64; 3]; k];
        for (i, &a) in assign.iter().enumerate() {
            if a != NONE {
                s[a as usize][0] += nodes.x[i];
                s[a as usize][1] += nodes.y[i];
                s[a as usize][2] += 1.0;
            }
        }
        for (i, a) in assign.iter_mut().enumerate() {
            if *a == NONE {
                let best = (0..k)
                    .filter(|&t| s[t][2] > 0.0)
                    .min_by(|&a, &b| {
                        let da = (s[a][0] / s[a][2] - nodes.x[i]).powi(2)
                            + (s[a][1] / s[a][2] - nodes.y[i]).powi(2);
                        let db = (s[b][0] / s[b][2] - nodes.x[i]).powi(2)
                            + (s[b][1] / s[b][2] - nodes.y[i]).powi(2);
                        da.total_cmp(&db)
                    })
                    .unwrap_or(0);
                *a = best as u32;
            }
        }
    }
}

/// Makes every territory one piece: keeps its heaviest piece (or every piece holding pinned
/// zones) and hands the other pieces' zones to the territories around them. Returns how many
/// territories keep several pieces because their pinned zones lie apart.
pub(crate) fn repair(g: &Graph, nodes: &Nodes, assign: &mut [u32], k: usize) -> usize {
    let (comp, pieces) = components(g, assign);
    // (workload, accounts): the account count only breaks ties, whatever unit workloads
    // are in (an added epsilon would carry one).
    let mut weight = vec![(0.0f64, 0.0f64); pieces.len()];
    let mut pinned = vec![false; pieces.len()];
    for i in 0..assign.len() {
        if comp[i] != NONE {
            let piece = &mut weight[comp[i] as usize];
            piece.0 += nodes.w[i];
            piece.1 += nodes.n[i];
            pinned[comp[i] as usize] |= nodes.fixed[i] != NONE;
        }
    }
    let mut keep = vec![false; pieces.len()];
    let mut heaviest: Vec<Option<usize>> = vec![None; k];
    let mut pinned_pieces = vec![0usize; k];
    for (c, &t) in pieces.iter().enumerate() {
        let t = t as usize;
        if pinned[c] {
            keep[c] = true;
            pinned_pieces[t] += 1;
        }
        if heaviest[t].is_none_or(|h| {
            weight[c]
                .0
                .total_cmp(&weight[h].0)
                .then(weight[c].1.total_cmp(&weight[h].1))
                == std::cmp::Ordering::Greater
        }) {
            heaviest[t] = Some(c);
        }
    }
    for t in 0..k {
        if pinned_pieces[t] == 0
            && let Some(h) = heaviest[t]
        {
            keep[h] = true;
        }
    }
    let mut changed = false;
    for i in 0..assign.len() {
        if comp[i] != NONE && !keep[comp[i] as usize] {
            assign[i] = NONE;
            changed = true;
        }
    }
    if changed {
        flood(g, nodes, assign, k);
    }
    pinned_pieces.iter().filter(|&&p| p > 1).count()
}
