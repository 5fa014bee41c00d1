//! Geospatial indexing on sorted sets, with Redis' arithmetic (src/geohash.c,
//! src/geohash_helper.c, src/geo.c): a position is stored as the score of its member,
//! a 52-bit geohash (26 bits of longitude and 26 of latitude, interleaved, latitude in
//! the even bits) over longitudes -180..180 and the Web Mercator latitudes
//! -85.05112878..85.05112878. The score of a GEOADD is the same as Redis', so ZSCORE
//! and every reply derived from it (positions, distances, hashes) match.
//!
//! A search, as in Redis, reads the sorted-set ranges of the geohash box around the
//! center and its eight neighbours at a precision chosen from the radius, and keeps the
//! members whose exact distance puts them inside the shape. The box order is Redis' so
//! that unsorted replies, and `ANY` cut-offs, list the same members in the same order.

/// Longitude and latitude limits (EPSG:900913).
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
/// Bits per coordinate in a stored score (26 × 2 = 52 bits, exact in a double).
pub const STEP_MAX: u8 = 26;

/// Earth's quadratic mean radius for WGS-84, in meters (Redis' constant).
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;

/// A geohash of `step` bits per coordinate. All zero means "no box" (a neighbour left
/// out of a search).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// A longitude/latitude rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Area {
    pub long_min: f64,
    pub long_max: f64,
    pub lat_min: f64,
    pub lat_max: f64,
}

#[derive(Debug, Clone, Copy)]
struct Range {
    min: f64,
    max: f64,
}

const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

fn deg_rad(angle: f64) -> f64 {
    angle * (std::f64::consts::PI / 180.0)
}

fn rad_deg(angle: f64) -> f64 {
    angle / (std::f64::consts::PI / 180.0)
}

/// Spreads the bits of `x` over the even positions and those of `y` over the odd ones.
fn interleave(x: u32, y: u32) -> u64 {
    fn spread(v: u32) -> u64 {
        let mut v = u64::from(v);
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    }
    spread(x) | (spread(y) << 1)
}

/// The inverse of [`interleave`]: the even bits in the low 32 bits of the result, the
/// odd bits in the high 32.
fn deinterleave(v: u64) -> u64 {
    fn squash(mut v: u64) -> u64 {
        v &= 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        (v | (v >> 16)) & 0x0000_0000_FFFF_FFFF
    }
    squash(v) | (squash(v >> 1) << 32)
}

fn encode_in(
    long_range: Range,
    lat_range: Range,
    lon: f64,
    lat: f64,
    step: u8,
) -> Option<HashBits> {
    if step == 0 || step > 32 || !valid(lon, lat) {
        return None;
    }
    if lat < lat_range.min || lat > lat_range.max || lon < long_range.min || lon > long_range.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min) * scale;
    let long_offset = (lon - long_range.min) / (long_range.max - long_range.min) * scale;
    Some(HashBits {
        bits: interleave(lat_offset as u32, long_offset as u32),
        step,
    })
}

fn decode_in(long_range: Range, lat_range: Range, hash: HashBits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let separated = deinterleave(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilat = f64::from(separated as u32);
    let ilon = f64::from((separated >> 32) as u32);
    let cells = (1u64 << hash.step) as f64;
    Some(Area {
        lat_min: lat_range.min + (ilat / cells) * lat_scale,
        lat_max: lat_range.min + ((ilat + 1.0) / cells) * lat_scale,
        long_min: long_range.min + (ilon / cells) * long_scale,
        long_max: long_range.min + ((ilon + 1.0) / cells) * long_scale,
    })
}

/// Whether a longitude/latitude pair can be indexed.
pub fn valid(lon: f64, lat: f64) -> bool {
    (LONG_MIN..=LONG_MAX).contains(&lon) && (LAT_MIN..=LAT_MAX).contains(&lat)
}

/// The sorted-set score GEOADD stores for a position; `None` outside the limits.
pub fn score_of(lon: f64, lat: f64) -> Option<f64> {
    encode_in(LONG_RANGE, LAT_RANGE, lon, lat, STEP_MAX).map(|h| align52(h) as f64)
}

fn align52(hash: HashBits) -> u64 {
    hash.bits << (52 - u32::from(hash.step) * 2)
}

/// The position (longitude, latitude) a score stands for: the center of its cell,
/// clamped to the limits (Redis' `decodeGeohash`).
pub fn position_of(score: f64) -> (f64, f64) {
    let hash = HashBits {
        bits: score as u64,
        step: STEP_MAX,
    };
    let area = decode_in(LONG_RANGE, LAT_RANGE, hash).unwrap_or_default();
    let lon = ((area.long_min + area.long_max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.lat_min + area.lat_max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The standard 11-character geohash of a score's position (GEOHASH): re-encoded over
/// latitudes -90..90, the 11th character always `0` as in Redis (52 bits fill 10.4).
pub fn geohash_text(score: f64) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = position_of(score);
    let standard_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode_in(LONG_RANGE, standard_lat, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    (0..11)
        .map(|i| {
            let index = if i == 10 {
                0
            } else {
                ((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize
            };
            char::from(ALPHABET[index])
        })
        .collect()
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine distance in meters between two positions (Redis' `geohashGetDistance`,
/// same operations in the same order, so the same result to the last bit).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// What a search covers around its center.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Extent {
    /// A circle of this radius.
    Radius(f64),
    /// A rectangle of this width and height, centered.
    Box { width: f64, height: f64 },
}

/// A search area: center, extent in the caller's unit and that unit's size in meters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub lon: f64,
    pub lat: f64,
    pub extent: Extent,
    /// Meters per unit (m 1, km 1000, ft 0.3048, mi 1609.34).
    pub conversion: f64,
}

/// A member found by a search.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub member: Vec<u8>,
    pub score: f64,
    pub lon: f64,
    pub lat: f64,
    /// Distance from the center in meters.
    pub distance: f64,
}

impl Shape {
    /// Whether a stored position is inside the shape, and its distance from the center
    /// (Redis' `geoWithinShape`).
    pub fn contains(&self, score: f64) -> Option<(f64, f64, f64)> {
        let (lon, lat) = position_of(score);
        match self.extent {
            Extent::Radius(radius) => {
                let d = distance(self.lon, self.lat, lon, lat);
                (d <= radius * self.conversion).then_some((lon, lat, d))
            }
            Extent::Box { width, height } => {
                let (width, height) = (width * self.conversion, height * self.conversion);
                if lat_distance(lat, self.lat) > height / 2.0 {
                    return None;
                }
                if distance(lon, lat, self.lon, lat) > width / 2.0 {
                    return None;
                }
                Some((lon, lat, distance(self.lon, self.lat, lon, lat)))
            }
        }
    }

    /// The bounding box of the shape: `[min lon, min lat, max lon, max lat]`.
    fn bounds(&self) -> [f64; 4] {
        let (half_height, half_width) = match self.extent {
            Extent::Radius(r) => (r, r),
            Extent::Box { width, height } => (height / 2.0, width / 2.0),
        };
        let height = self.conversion * half_height;
        let width = self.conversion * half_width;
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let long_delta_top =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat + lat_delta).cos());
        let long_delta_bottom =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat - lat_delta).cos());
        let delta = if self.lat < 0.0 {
            long_delta_bottom
        } else {
            long_delta_top
        };
        [
            self.lon - delta,
            self.lat - lat_delta,
            self.lon + delta,
            self.lat + lat_delta,
        ]
    }

    /// The score ranges `[min, max)` to read, in Redis' order: the center box, then
    /// north, south, east, west, north-east, north-west, south-east, south-west; boxes
    /// that cannot hold a match are left out, as is a box equal to the one read before.
    pub fn score_ranges(&self) -> Vec<(f64, f64)> {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounds();
        let radius_meters = match self.extent {
            Extent::Radius(r) => r,
            Extent::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        } * self.conversion;
        let mut steps = estimate_steps(radius_meters, self.lat);
        let mut hash =
            encode_in(LONG_RANGE, LAT_RANGE, self.lon, self.lat, steps).unwrap_or_default();
        let mut neighbors = Neighbors::of(hash);
        let area_of = |h: HashBits| decode_in(LONG_RANGE, LAT_RANGE, h).unwrap_or_default();
        let mut area = area_of(hash);
        // Near an edge of the search area the estimated step may leave a neighbour too
        // small to cover it: one step coarser then.
        let decrease = area_of(neighbors.north).lat_max < max_lat
            || area_of(neighbors.south).lat_min > min_lat
            || area_of(neighbors.east).long_max < max_lon
            || area_of(neighbors.west).long_min > min_lon;
        if steps > 1 && decrease {
            steps -= 1;
            hash = encode_in(LONG_RANGE, LAT_RANGE, self.lon, self.lat, steps).unwrap_or_default();
            neighbors = Neighbors::of(hash);
            area = area_of(hash);
        }
        let n = &mut neighbors;
        if steps >= 2 {
            if area.lat_min < min_lat {
                n.south = HashBits::default();
                n.south_west = HashBits::default();
                n.south_east = HashBits::default();
            }
            if area.lat_max > max_lat {
                n.north = HashBits::default();
                n.north_east = HashBits::default();
                n.north_west = HashBits::default();
            }
            if area.long_min < min_lon {
                n.west = HashBits::default();
                n.south_west = HashBits::default();
                n.north_west = HashBits::default();
            }
            if area.long_max > max_lon {
                n.east = HashBits::default();
                n.south_east = HashBits::default();
                n.north_east = HashBits::default();
            }
        }
        let boxes = [
            hash,
            n.north,
            n.south,
            n.east,
            n.west,
            n.north_east,
            n.north_west,
            n.south_east,
            n.south_west,
        ];
        let mut ranges = Vec::with_capacity(9);
        let mut last: Option<usize> = None;
        for (i, b) in boxes.iter().enumerate() {
            if b.is_zero() {
                continue;
            }
            // Redis compares with the last box read, except when that is the center.
            if let Some(l) = last.filter(|&l| l > 0) {
                if boxes[l] == *b {
                    continue;
                }
            }
            let min = align52(*b);
            let max = align52(HashBits {
                bits: b.bits + 1,
                step: b.step,
            });
            ranges.push((min as f64, max as f64));
            last = Some(i);
        }
        ranges
    }
}

/// Redis' `geohashEstimateStepsByRadius`: bits per coordinate for a search radius.
fn estimate_steps(range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return STEP_MAX;
    }
    let mut range = range_meters;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, i32::from(STEP_MAX)) as u8
}

struct Neighbors {
    north: HashBits,
    south: HashBits,
    east: HashBits,
    west: HashBits,
    north_east: HashBits,
    north_west: HashBits,
    south_east: HashBits,
    south_west: HashBits,
}

impl Neighbors {
    fn of(hash: HashBits) -> Neighbors {
        let at = |dx: i8, dy: i8| move_y(move_x(hash, dx), dy);
        Neighbors {
            east: at(1, 0),
            west: at(-1, 0),
            south: at(0, -1),
            north: at(0, 1),
            north_west: at(-1, 1),
            north_east: at(1, 1),
            south_east: at(1, -1),
            south_west: at(-1, -1),
        }
    }
}

/// Moves a geohash one cell east (`d` > 0) or west, wrapping around: longitude is in
/// the odd bits.
fn move_x(hash: HashBits, d: i8) -> HashBits {
    if d == 0 || hash.step == 0 {
        return hash;
    }
    let shift = 64 - u32::from(hash.step) * 2;
    let mut x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    x = if d > 0 {
        x.wrapping_add(zz + 1)
    } else {
        (x | zz).wrapping_sub(zz + 1)
    };
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    HashBits {
        bits: x | y,
        step: hash.step,
    }
}

/// Moves a geohash one cell north (`d` > 0) or south: latitude is in the even bits.
fn move_y(hash: HashBits, d: i8) -> HashBits {
    if d == 0 || hash.step == 0 {
        return hash;
    }
    let shift = 64 - u32::from(hash.step) * 2;
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    y = if d > 0 {
        y.wrapping_add(zz + 1)
    } else {
        (y | zz).wrapping_sub(zz + 1)
    };
    y &= 0x5555_5555_5555_5555u64 >> shift;
    HashBits {
        bits: x | y,
        step: hash.step,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_match_redis() {
        // ZSCORE after GEOADD on redis-server 7.0.
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698.0));
        assert_eq!(score_of(15.087269, 37.502669), Some(3479447370796909.0));
        assert_eq!(score_of(200.0, 0.0), None);
        assert_eq!(score_of(0.0, 85.06), None);
    }

    #[test]
    fn positions_and_hashes_match_redis() {
        let (lon, lat) = position_of(3479099956230698.0);
        assert_eq!(format!("{lon:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
        assert_eq!(geohash_text(3479099956230698.0), "sqc8b49rny0");
        assert_eq!(geohash_text(3479447370796909.0), "sqdtr74hyu0");
    }

    #[test]
    fn interleave_round_trips() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 0x155_5555),
            (u32::MAX, 7),
        ] {
            let v = deinterleave(interleave(x, y));
            assert_eq!((v as u32, (v >> 32) as u32), (x, y));
        }
    }

    #[test]
    fn distance_matches_redis() {
        let (a, b) = (
            position_of(3479099956230698.0),
            position_of(3479447370796909.0),
        );
        let d = distance(a.0, a.1, b.0, b.1);
        assert_eq!(format!("{d:.4}"), "166274.1516");
    }

    #[test]
    fn neighbours_wrap() {
        let h = HashBits { bits: 0, step: 1 };
        assert_eq!(move_x(h, -1).bits, 0b10);
        assert_eq!(move_x(move_x(h, -1), 1).bits, 0);
        assert_eq!(move_y(h, 1).bits, 0b01);
    }
}
