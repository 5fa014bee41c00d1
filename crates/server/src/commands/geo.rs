//! GEO commands on sorted sets (Redis' src/geo.c): positions are the members' scores,
//! Redis' 52-bit geohashes (`ferrokv_types::geo`). Replies and error texts are Redis
//! 7's: distances with four decimals, coordinates as `%.17Lf` without trailing zeros.

use bytes::Bytes;
use ferrokv_protocol::Frame;
use ferrokv_types::geo::{self, Extent, Found, Shape};
use ferrokv_types::{DataType, RangeBy, RangeSpec, ScoreRange};

use super::{float_arg, is, key_of_type};
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};

/// `GEOADD key [NX|XX] [CH] lon lat member [lon lat member ...]`: ZADD of the
/// members at their geohash scores, as Redis does it (NX/XX/CH keep ZADD's meaning).
fn geoadd(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let (mut nx, mut xx) = (false, false);
    let mut first = 2;
    while let Some(arg) = args.get(first) {
        match arg {
            a if is(a, "NX") => nx = true,
            a if is(a, "XX") => xx = true,
            a if is(a, "CH") => {}
            _ => break,
        }
        first += 1;
    }
    let triples = &args[first..];
    if !triples.len().is_multiple_of(3) || (nx && xx) {
        return Err(CommandError::Syntax);
    }
    let mut zadd_args: Vec<Bytes> = args[..first].to_vec();
    for triple in triples.chunks_exact(3) {
        let (lon, lat) = lon_lat(&triple[0], &triple[1])?;
        let score = geo::score_of(lon, lat).ok_or_else(|| invalid_pair(lon, lat))?;
        zadd_args.push(Bytes::from((score as u64).to_string()));
        zadd_args.push(triple[2].clone());
    }
    super::zset::zadd(ctx, &zadd_args)
}

fn invalid_pair(lon: f64, lat: f64) -> CommandError {
    CommandError::err(format!("invalid longitude,latitude pair {lon:.6},{lat:.6}"))
}

/// A longitude/latitude argument pair, checked against the indexable limits.
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CommandError> {
    let (lon, lat) = (float_arg(lon)?, float_arg(lat)?);
    if !geo::valid(lon, lat) {
        return Err(invalid_pair(lon, lat));
    }
    Ok((lon, lat))
}

/// Meters per unit; Redis' text for anything else.
fn unit(arg: &[u8]) -> Result<f64, CommandError> {
    match arg {
        a if is(a, "m") => Ok(1.0),
        a if is(a, "km") => Ok(1000.0),
        a if is(a, "ft") => Ok(0.3048),
        a if is(a, "mi") => Ok(1609.34),
        _ => Err(CommandError::err(
            "unsupported unit provided. please use M, KM, FT, MI",
        )),
    }
}

/// A float argument with the message Redis gives when it is not one.
fn float_or(arg: &[u8], message: &str) -> Result<f64, CommandError> {
    ferrokv_types::numbers::parse_f64(arg).ok_or_else(|| CommandError::err(message))
}

/// `radius unit`: the radius in the unit, and the unit's size in meters.
fn radius_arg(radius: &[u8], unit_arg: &[u8]) -> Result<(f64, f64), CommandError> {
    let radius = float_or(radius, "need numeric radius")?;
    if radius < 0.0 {
        return Err(CommandError::err("radius cannot be negative"));
    }
    Ok((radius, unit(unit_arg)?))
}

/// Redis' `addReplyDoubleDistance`: four decimals, rounded as `llrint(d * 10^4)`
/// (`fixedpoint_d2string`).
fn distance_text(d: f64) -> String {
    let scaled = (d * 10_000.0).round_ties_even() as i64;
    let sign = if scaled < 0 { "-" } else { "" };
    let magnitude = scaled.unsigned_abs();
    format!("{sign}{}.{:04}", magnitude / 10_000, magnitude % 10_000)
}

/// Redis' `addReplyHumanLongDouble` text: `%.17Lf` without trailing zeros (nor a
/// trailing dot), `-0` as `0`.
fn human_text(v: f64) -> String {
    let mut text = format!("{v:.17}");
    if text.contains('.') {
        let trimmed = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(trimmed);
    }
    if text == "-0" {
        text = "0".to_owned();
    }
    text
}

fn coordinates(lon: f64, lat: f64) -> Frame {
    Frame::Array(vec![
        Frame::DoubleText(human_text(lon)),
        Frame::DoubleText(human_text(lat)),
    ])
}

/// GEOPOS and GEOHASH: the score of each member named after the key (`None` when
/// missing, and for every member of a missing key).
fn member_scores(ctx: &mut Context<'_>, args: &[Bytes]) -> Result<Vec<Option<f64>>, CommandError> {
    let members: Vec<&[u8]> = args[2..].iter().map(|m| m.as_ref()).collect();
    if key_of_type(ctx, &args[1], DataType::ZSet)? {
        Ok(ctx.server.db.zmscore(&args[1], &members)?)
    } else {
        Ok(vec![None; members.len()])
    }
}

fn geopos(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let scores = member_scores(ctx, args)?;
    Ok(Frame::Array(
        scores
            .into_iter()
            .map(|score| match score {
                Some(score) => {
                    let (lon, lat) = geo::position_of(score);
                    coordinates(lon, lat)
                }
                None => Frame::NullArray,
            })
            .collect(),
    ))
}

fn geohash(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let scores = member_scores(ctx, args)?;
    Ok(Frame::Array(
        scores
            .into_iter()
            .map(|score| score.map_or(Frame::Null, |s| Frame::bulk(geo::geohash_text(s))))
            .collect(),
    ))
}

/// `GEODIST key member1 member2 [unit]`: nil when the key or a member is missing.
fn geodist(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let to_meters = match args.len() {
        4 => 1.0,
        5 => unit(&args[4])?,
        _ => return Err(CommandError::Syntax),
    };
    if !key_of_type(ctx, &args[1], DataType::ZSet)? {
        return Ok(Frame::Null);
    }
    let scores = ctx.server.db.zmscore(&args[1], &[&args[2], &args[3]])?;
    let (Some(a), Some(b)) = (scores[0], scores[1]) else {
        return Ok(Frame::Null);
    };
    let ((lon1, lat1), (lon2, lat2)) = (geo::position_of(a), geo::position_of(b));
    Ok(Frame::bulk(distance_text(
        geo::distance(lon1, lat1, lon2, lat2) / to_meters,
    )))
}

/// Which search command runs, for its argument layout and options.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Search {
    /// GEORADIUS key lon lat radius unit (`_RO` refuses STORE).
    Radius { read_only: bool },
    /// GEORADIUSBYMEMBER key member radius unit.
    ByMember { read_only: bool },
    /// GEOSEARCH key FROMMEMBER|FROMLONLAT BYRADIUS|BYBOX ...
    Geosearch,
    /// GEOSEARCHSTORE dst src ...
    GeosearchStore,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// Redis' `georadiusGeneric`: every search command.
fn search(ctx: &mut Context<'_>, args: &[Bytes], kind: Search) -> CmdResult {
    let src_index = if kind == Search::GeosearchStore { 2 } else { 1 };
    let src = &args[src_index];
    let exists = key_of_type(ctx, src, DataType::ZSet)?;
    let mut center: Option<(f64, f64)> = None;
    let mut extent: Option<(Extent, f64)> = None;
    let base = match kind {
        Search::Radius { .. } => {
            center = Some(lon_lat(&args[2], &args[3])?);
            let (radius, conversion) = radius_arg(&args[4], &args[5])?;
            extent = Some((Extent::Radius(radius), conversion));
            6
        }
        Search::ByMember { .. } => {
            if exists {
                center = Some(member_position(ctx, src, &args[2])?);
                let (radius, conversion) = radius_arg(&args[3], &args[4])?;
                extent = Some((Extent::Radius(radius), conversion));
            }
            5
        }
        Search::Geosearch => 2,
        Search::GeosearchStore => 3,
    };
    let geosearch = matches!(kind, Search::Geosearch | Search::GeosearchStore);
    let storing_allowed = matches!(
        kind,
        Search::Radius { read_only: false } | Search::ByMember { read_only: false }
    );
    let mut store: Option<Bytes> = (kind == Search::GeosearchStore).then(|| args[1].clone());
    let mut store_dist = false;
    let (mut with_dist, mut with_hash, mut with_coord) = (false, false, false);
    let (mut from_member, mut from_lonlat, mut by_radius, mut by_box) =
        (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let options = &args[base..];
    let mut i = 0;
    while i < options.len() {
        let arg = &options[i];
        let remaining = options.len() - i - 1;
        if is(arg, "WITHDIST") {
            with_dist = true;
        } else if is(arg, "WITHHASH") {
            with_hash = true;
        } else if is(arg, "WITHCOORD") {
            with_coord = true;
        } else if is(arg, "ANY") {
            any = true;
        } else if is(arg, "ASC") {
            sort = Sort::Asc;
        } else if is(arg, "DESC") {
            sort = Sort::Desc;
        } else if is(arg, "COUNT") && remaining >= 1 {
            count = super::int_arg(&options[i + 1])?;
            if count <= 0 {
                return Err(CommandError::err("COUNT must be > 0"));
            }
            i += 1;
        } else if (is(arg, "STORE") || is(arg, "STOREDIST")) && remaining >= 1 && storing_allowed {
            store = Some(options[i + 1].clone());
            store_dist = is(arg, "STOREDIST");
            i += 1;
        } else if is(arg, "STOREDIST") && kind == Search::GeosearchStore {
            store_dist = true;
        } else if is(arg, "FROMMEMBER") && remaining >= 1 && geosearch && !from_lonlat {
            if exists {
                center = Some(member_position(ctx, src, &options[i + 1])?);
            }
            from_member = true;
            i += 1;
        } else if is(arg, "FROMLONLAT") && remaining >= 2 && geosearch && !from_member {
            center = Some(lon_lat(&options[i + 1], &options[i + 2])?);
            from_lonlat = true;
            i += 2;
        } else if is(arg, "BYRADIUS") && remaining >= 2 && geosearch && !by_box {
            let (radius, conversion) = radius_arg(&options[i + 1], &options[i + 2])?;
            extent = Some((Extent::Radius(radius), conversion));
            by_radius = true;
            i += 2;
        } else if is(arg, "BYBOX") && remaining >= 3 && geosearch && !by_radius {
            let width = float_or(&options[i + 1], "need numeric width")?;
            let height = float_or(&options[i + 2], "need numeric height")?;
            if width < 0.0 || height < 0.0 {
                return Err(CommandError::err("height or width cannot be negative"));
            }
            extent = Some((Extent::Box { width, height }, unit(&options[i + 3])?));
            by_box = true;
            i += 3;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    let name = super::text(&args[0]);
    if store.is_some() && (with_dist || with_hash || with_coord) {
        return Err(CommandError::err(format!(
            "{} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if kind == Search::GeosearchStore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    if geosearch && !(from_member || from_lonlat) {
        return Err(CommandError::err(format!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if geosearch && !(by_radius || by_box) {
        return Err(CommandError::err(format!(
            "exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(CommandError::err(
            "the ANY argument requires COUNT argument",
        ));
    }
    // A search without STORE writes nothing, and touches nothing.
    ctx.touches = Some(store.iter().cloned().collect());
    let (Some((lon, lat)), Some((extent, conversion)), true) = (center, extent, exists) else {
        // The source key is missing: an empty reply, or an emptied destination.
        return Ok(match store {
            Some(dst) => {
                ctx.server.db.del(&[dst.as_ref()])?;
                Frame::Integer(0)
            }
            None => Frame::Array(Vec::new()),
        });
    };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let shape = Shape {
        lon,
        lat,
        extent,
        conversion,
    };
    let limit = if any { count as usize } else { 0 };
    let select = |found: Vec<Found>| {
        let mut found = found;
        match sort {
            Sort::None => {}
            Sort::Asc => found.sort_by(|a, b| a.distance.total_cmp(&b.distance)),
            Sort::Desc => found.sort_by(|a, b| b.distance.total_cmp(&a.distance)),
        }
        if count > 0 {
            found.truncate(count as usize);
        }
        found
    };
    if let Some(dst) = store {
        let size = ctx.server.db.zstore_computed(&dst, src, |db| {
            let found = select(matches(db, src, &shape, limit)?);
            Ok::<_, ferrokv_types::TypeError>(
                found
                    .into_iter()
                    .map(|f| {
                        let score = if store_dist {
                            f.distance / conversion
                        } else {
                            f.score
                        };
                        (f.member, score)
                    })
                    .collect(),
            )
        })?;
        return Ok(Frame::Integer(size as i64));
    }
    let found = select(matches(&ctx.server.db, src, &shape, limit)?);
    let plain = !(with_dist || with_hash || with_coord);
    Ok(Frame::Array(
        found
            .into_iter()
            .map(|f| {
                let member = Frame::bulk(f.member);
                if plain {
                    return member;
                }
                let mut item = vec![member];
                if with_dist {
                    item.push(Frame::bulk(distance_text(f.distance / conversion)));
                }
                if with_hash {
                    item.push(Frame::Integer(f.score as i64));
                }
                if with_coord {
                    item.push(coordinates(f.lon, f.lat));
                }
                Frame::Array(item)
            })
            .collect(),
    ))
}

/// The position of a member, or Redis' error when it has none.
fn member_position(
    ctx: &Context<'_>,
    key: &[u8],
    member: &[u8],
) -> Result<(f64, f64), CommandError> {
    ctx.server
        .db
        .zscore(key, member)?
        .map(geo::position_of)
        .ok_or_else(|| CommandError::err("could not decode requested zset member"))
}

/// The members inside `shape`, in Redis' reading order (box by box, each by score);
/// with a `limit` (ANY), the first that many.
fn matches(
    db: &ferrokv_types::Database,
    key: &[u8],
    shape: &Shape,
    limit: usize,
) -> Result<Vec<Found>, ferrokv_types::TypeError> {
    let mut found = Vec::new();
    for (min, max) in shape.score_ranges() {
        if limit > 0 && found.len() >= limit {
            break;
        }
        let range = ScoreRange {
            min,
            min_exclusive: false,
            max,
            max_exclusive: true,
        };
        for (member, score) in db.zrange(key, &RangeSpec::new(RangeBy::Score(range)))? {
            if let Some((lon, lat, distance)) = shape.contains(score) {
                found.push(Found {
                    member,
                    score,
                    lon,
                    lat,
                    distance,
                });
            }
            if limit > 0 && found.len() >= limit {
                break;
            }
        }
    }
    Ok(found)
}

fn georadius(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    search(ctx, args, Search::Radius { read_only: false })
}

fn georadius_ro(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    search(ctx, args, Search::Radius { read_only: true })
}

fn georadiusbymember(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    search(ctx, args, Search::ByMember { read_only: false })
}

fn georadiusbymember_ro(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    search(ctx, args, Search::ByMember { read_only: true })
}

fn geosearch(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    search(ctx, args, Search::Geosearch)
}

fn geosearchstore(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    search(ctx, args, Search::GeosearchStore)
}

/// Keys of GEORADIUS and GEORADIUSBYMEMBER: the source, and the key after the last
/// STORE or STOREDIST (Redis' `georadiusGetKeys`).
fn georadius_keys(args: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut stored = None;
    let mut i = 5;
    while i + 1 < args.len() {
        if is(&args[i], "STORE") || is(&args[i], "STOREDIST") {
            stored = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    keys.extend(stored);
    keys
}

const GROUP: &str = "geo";

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("geoadd", -5, WRITE, 1, 1, 1, geoadd, GROUP, "Adds members at longitude/latitude positions to a sorted set."),
    cmd("geodist", -4, READONLY, 1, 1, 1, geodist, GROUP, "Returns the distance between two members."),
    cmd("geohash", -2, READONLY, 1, 1, 1, geohash, GROUP, "Returns members' positions as geohash strings."),
    cmd("geopos", -2, READONLY, 1, 1, 1, geopos, GROUP, "Returns members' longitude and latitude."),
    CommandSpec { keys: Some(georadius_keys), flags: WRITE | MOVABLE_KEYS, ..cmd("georadius", -6, 0, 1, 1, 1, georadius, GROUP, "Finds members within a radius of a position, optionally storing them.") },
    cmd("georadius_ro", -6, READONLY, 1, 1, 1, georadius_ro, GROUP, "Finds members within a radius of a position."),
    CommandSpec { keys: Some(georadius_keys), flags: WRITE | MOVABLE_KEYS, ..cmd("georadiusbymember", -5, 0, 1, 1, 1, georadiusbymember, GROUP, "Finds members within a radius of a member, optionally storing them.") },
    cmd("georadiusbymember_ro", -5, READONLY, 1, 1, 1, georadiusbymember_ro, GROUP, "Finds members within a radius of a member."),
    cmd("geosearch", -7, READONLY, 1, 1, 1, geosearch, GROUP, "Finds members within a circle or a box."),
    cmd("geosearchstore", -8, WRITE, 1, 2, 1, geosearchstore, GROUP, "Stores the members within a circle or a box."),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_text_is_fixed_point() {
        assert_eq!(distance_text(166274.15156960033), "166274.1516");
        assert_eq!(distance_text(0.0), "0.0000");
        assert_eq!(distance_text(0.00005), "0.0000");
        assert_eq!(distance_text(0.00015), "0.0001");
        assert_eq!(distance_text(2.5 / 10_000.0 * 3.0), "0.0008");
        assert_eq!(distance_text(12.5), "12.5000");
    }

    #[test]
    fn human_text_trims() {
        assert_eq!(human_text(13.361389338970184), "13.36138933897018433");
        assert_eq!(human_text(2.0), "2");
        assert_eq!(human_text(-0.0), "0");
        assert_eq!(human_text(-1.5), "-1.5");
    }
}
