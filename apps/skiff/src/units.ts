// Sizes and ages as podman prints them (docker/go-units): decimal units, three or four
// significant digits, "N minutes ago".

const DECIMAL = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** Go's %.*g: `precision` significant digits, trailing zeros dropped. */
function goG(value: number, precision: number): string {
  if (value === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(value)));
  if (exp < -4 || exp >= precision) {
    const [mant, e] = value.toExponential(precision - 1).split('e');
    const m = mant!.includes('.') ? mant!.replace(/0+$/, '').replace(/\.$/, '') : mant!;
    const n = Number(e);
    return `${m}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  const fixed = value.toPrecision(precision);
  return fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
}

/** go-units HumanSizeWithPrecision: 2131132 -> "2.131MB" (precision 4), "2.13MB" (3). */
export function humanSize(bytes: number, precision = 4): string {
  let size = bytes;
  let unit = 0;
  while (size >= 1000 && unit < DECIMAL.length - 1) {
    size /= 1000;
    unit++;
  }
  return `${goG(size, precision)}${DECIMAL[unit]}`;
}

/** podman images/history: three digits and a space before the unit ("2.13 MB"). */
export function imageSize(bytes: number): string {
  const s = humanSize(bytes, 3);
  const m = /^([0-9.e+-]+)(.*)$/.exec(s);
  return m ? `${m[1]} ${m[2]}` : s;
}

/** go-units HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

/** "56 years ago", "Less than a second ago". */
export function timeAgo(date: Date, now = Date.now()): string {
  return `${humanDuration(Math.max(0, now - date.getTime()))} ago`;
}

/** Go's time.Time.String() for a local-zone-free display: "2006-01-02 15:04:05 +0000 UTC". */
export function goTime(date: Date): string {
  const iso = date.toISOString();
  const frac = iso.slice(19, 23).replace(/\.?0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac === '.' ? '' : frac} +0000 UTC`;
}

/** RFC 3339 with the fraction Go prints (none when zero). */
export function rfc3339(date: Date): string {
  const iso = date.toISOString();
  const frac = iso.slice(19, 23).replace(/\.?0+$/, '');
  return `${iso.slice(0, 19)}${frac === '.' ? '' : frac}Z`;
}
