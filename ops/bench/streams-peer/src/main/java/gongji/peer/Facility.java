package gongji.peer;

import java.nio.ByteBuffer;

/**
 * A facility's level and TCM flag as a timeline (TIME-DATED, F-LEVEL, F-TCM), the value of the "facilities" store:
 * versions of 6 bytes each (from, level, tcm), in log order. facility_registered and facility_updated reach every
 * partition (TIME-LOG), so every task keeps its own complete copy; no global table is needed.
 */
final class Facility {
  private Facility() {}

  /** The store value after a registration or an update; an update without a level or tcm keeps the previous one. */
  static byte[] append(byte[] prev, int at, Integer level, Boolean tcm) {
    int n = prev == null ? 0 : prev.length / 6;
    byte lastLevel = n == 0 ? 0 : prev[prev.length - 2];
    byte lastTcm = n == 0 ? 0 : prev[prev.length - 1];
    ByteBuffer b = ByteBuffer.allocate(6 * (n + 1));
    if (prev != null) b.put(prev);
    b.putInt(at).put(level != null ? level.byteValue() : lastLevel).put(tcm != null ? (byte) (tcm ? 1 : 0) : lastTcm);
    return b.array();
  }

  /** {level counted as 1..3 (F-LEVEL), tcm 0/1} in effect on `day`, or null if not registered by then. */
  static int[] at(byte[] value, int day) {
    if (value == null) return null;
    ByteBuffer b = ByteBuffer.wrap(value);
    int[] found = null;
    for (int i = 0; i + 6 <= value.length; i += 6)
      if (b.getInt(i) <= day) found = new int[] {Math.min(3, Math.max(1, value[i + 4])), value[i + 5]};
    return found;
  }
}
