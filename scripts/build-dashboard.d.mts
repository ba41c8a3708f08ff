/** Build the dashboard into `outdir` (default dist/dashboard); the files written and their sizes in bytes. */
export function buildDashboard(outdir?: string): Promise<{ outdir: string; sizes: Record<string, number> }>;
