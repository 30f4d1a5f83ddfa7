/** The host's temperatures in °C; null where the machine exposes none. */
export interface HostTemperatures {
  main: number | null;
  cores: readonly (number | null)[];
  chipset: number | null;
}

export type TemperatureReader = () => Promise<HostTemperatures>;

/** systeminformation's cpuTemperature(): /sys thermal zones, hwmon, `sensors`, vcgencmd on a Pi. */
export const systemTemperatures: TemperatureReader = async () => {
  const si = await import("systeminformation");
  const t = await si.default.cpuTemperature();
  return { main: t.main ?? null, cores: t.cores ?? [], chipset: t.chipset ?? null };
};
