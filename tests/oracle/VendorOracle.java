// The Java vendors' own verification paths, run by the JDK (Debian
// default-jdk-headless) and jBCrypt (Debian libjbcrypt-java), as the oracle
// for values Locksmith writes. Each branch is transcribed from the vendor's
// login code named beside it (reference: vendor-password-formats.md).
//
// Usage: java -cp <dir>:jbcrypt.jar VendorOracle KIND  < lines "name base64(value)"
// Prints "true" or "false". The password travels on stdin only; errors never echo it.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import javax.crypto.Cipher;
import javax.crypto.SecretKey;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import javax.crypto.spec.PBEParameterSpec;
import org.mindrot.jbcrypt.BCrypt;

public class VendorOracle {
    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) {
            String h = Integer.toHexString(x & 0xFF);
            if (h.length() < 2) sb.append('0');
            sb.append(h);
        }
        return sb.toString();
    }

    static String digest(String algo, String s) throws Exception {
        return hex(MessageDigest.getInstance(algo).digest(s.getBytes(StandardCharsets.UTF_8)));
    }

    // JeecgBoot org.jeecg.common.util.PasswordUtil.encrypt(plaintext, password, salt):
    // PBEWithMD5AndDES keyed by the password, 1000 iterations, of the username; hex.
    static String jeecgEncrypt(String plaintext, String password, String salt) throws Exception {
        PBEKeySpec keySpec = new PBEKeySpec(password.toCharArray());
        SecretKeyFactory f = SecretKeyFactory.getInstance("PBEWithMD5AndDES");
        SecretKey key = f.generateSecret(keySpec);
        PBEParameterSpec spec = new PBEParameterSpec(salt.getBytes(), 1000);
        Cipher cipher = Cipher.getInstance("PBEWithMD5AndDES");
        cipher.init(Cipher.ENCRYPT_MODE, key, spec);
        return hex(cipher.doFinal(plaintext.getBytes("utf-8")));
    }

    // WukongCRM 11 Java AuthPasswordUtil.verify(key = username + password, salt, stored):
    // sign, signP ("PHP端签名") and signP2 as the vendor accepts them.
    static boolean wukongVerify(String key, String salt, String stored) throws Exception {
        if (digest("MD5", key + "erp" + salt).equals(stored)) return true;
        if (key.length() > 11) {
            String u = key.substring(0, 11);
            String p = key.substring(11);
            String signP = digest("MD5", digest("MD5", digest("SHA-1", u + p)) + digest("MD5", p + salt));
            String signP2 = digest("MD5", digest("SHA-1", p) + digest("MD5", p + salt));
            return signP.equals(stored) || signP2.equals(stored);
        }
        return false;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: VendorOracle KIND < name-base64 lines");
            System.exit(2);
        }
        Map<String, String> in = new HashMap<>();
        BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = r.readLine()) != null; ) {
            if (line.isEmpty()) continue;
            int sp = line.indexOf(' ');
            String name = sp < 0 ? line : line.substring(0, sp);
            String value = sp < 0 ? "" : new String(Base64.getDecoder().decode(line.substring(sp + 1)), StandardCharsets.UTF_8);
            in.put(name, value);
        }
        String password = in.getOrDefault("password", "");
        String stored = in.getOrDefault("stored", "");
        String login = in.getOrDefault("login", "");
        String salt = in.getOrDefault("salt", "");
        boolean ok;
        switch (args[0]) {
            case "jeecg": {
                // LoginController: PasswordUtil.encrypt(username, password, salt).equals(sys_user.password);
                // encrypt() returns null when the JDK refuses the key (non-ASCII password).
                String computed;
                try {
                    computed = jeecgEncrypt(login, password, salt);
                } catch (Exception e) {
                    computed = null;
                }
                ok = stored.equals(computed);
                break;
            }
            case "ruoyi-vue":
                // SecurityUtils.matchesPassword -> BCryptPasswordEncoder.matches; jBCrypt is its origin.
                ok = BCrypt.checkpw(password, stored);
                break;
            case "ruoyi":
                // PasswordService.encryptPassword: new Md5Hash(loginName + password + salt).toHex().
                ok = digest("MD5", login + password + salt).equals(stored);
                break;
            case "wukong11":
                // BasePasswordEncoder.matches: AuthPasswordUtil.verify(username + password, salt, stored), both trimmed.
                ok = wukongVerify(login.trim() + password.trim(), salt, stored);
                break;
            default:
                System.err.println("VendorOracle: unknown kind");
                System.exit(2);
                return;
        }
        System.out.println(ok ? "true" : "false");
    }
}
