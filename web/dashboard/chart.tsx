/** A small time-series chart on a canvas (no library: a polyline and its last value is all the overview needs). */
import { useEffect, useRef } from 'preact/hooks';

export function formatRate(v: number, unit: string): string {
  if (unit === 'B/s') {
    if (v >= 1e6) return `${(v / 1e6).toFixed(1)} MB/s`;
    if (v >= 1e3) return `${(v / 1e3).toFixed(1)} kB/s`;
    return `${v.toFixed(0)} B/s`;
  }
  return `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ${unit}`;
}

export function Spark({ values, unit, label }: { values: number[]; unit: string; label: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas) return;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 120;
    const h = canvas.clientHeight || 28;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const g = canvas.getContext('2d');
    if (!g) return;
    g.scale(dpr, dpr);
    g.clearRect(0, 0, w, h);
    const style = getComputedStyle(canvas);
    const n = values.length;
    if (n < 2) return;
    const max = Math.max(...values, 1e-9);
    const x = (i: number): number => (i / (n - 1)) * (w - 2) + 1;
    const y = (v: number): number => h - 2 - (v / max) * (h - 4);
    g.beginPath();
    g.moveTo(x(0), h);
    values.forEach((v, i) => g.lineTo(x(i), y(v)));
    g.lineTo(x(n - 1), h);
    g.closePath();
    g.fillStyle = style.getPropertyValue('--chart-fill').trim() || 'rgba(80,140,255,0.2)';
    g.fill();
    g.beginPath();
    values.forEach((v, i) => (i === 0 ? g.moveTo(x(i), y(v)) : g.lineTo(x(i), y(v))));
    g.strokeStyle = style.getPropertyValue('--chart-line').trim() || '#4a7cff';
    g.lineWidth = 1.5;
    g.stroke();
  }, [values]);
  const last = values.length > 0 ? values[values.length - 1]! : 0;
  return (
    <div class="spark" title={`${label} over the last ${Math.round((values.length * 2) / 60)} min`}>
      <canvas ref={ref} aria-label={`${label} chart`} />
      <span class="spark-value">{formatRate(last, unit)}</span>
    </div>
  );
}
