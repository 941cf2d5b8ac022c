<?php
// The PHP vendors' own verification paths, run by Debian's php-cli, as the
// oracle for values Locksmith writes. Each branch is transcribed from the
// vendor's login code named beside it (reference: vendor-password-formats.md);
// the primitives are PHP's own password_verify / crypt / md5 / sha1.
//
// Usage: php vendor.php KIND  <  {"password": ..., "stored": ..., ...}
// Prints {"ok": true|false}. The password travels on stdin only; errors never echo it.
declare(strict_types=1);

$kind = $argv[1] ?? '';
$req = json_decode((string) stream_get_contents(STDIN), true);
if (!is_array($req) || !isset($req['password'], $req['stored'])) {
    fwrite(STDERR, "vendor.php: expected a JSON object with password and stored on stdin\n");
    exit(2);
}
$p = (string) $req['password'];
$hash = (string) $req['stored'];

// SuiteCRM 7 modules/Users/User.php: login encodes strtolower(md5($p)), then checkPasswordMD5.
function suitecrm_check(string $p, string $user_hash): bool
{
    $password_md5 = strtolower(md5($p));
    if ($user_hash === '') {
        return false;
    }
    if ($user_hash[0] !== '$' && strlen($user_hash) === 32) {
        return strtolower($password_md5) === $user_hash;
    }
    return password_verify(strtolower($password_md5), $user_hash);
}

// vtiger 8.2 modules/Users/Users.php: encrypt_password() and doLogin().
function vtiger_encrypt_password(string $user_name, string $p, string $crypt_type): string
{
    $salt = substr($user_name, 0, 2);
    if ($crypt_type === 'MD5') {
        $salt = '$1$' . $salt . '$';
    } elseif ($crypt_type === 'BLOWFISH') {
        $salt = '$2$' . $salt . '$';
    } elseif ($crypt_type === 'PHP5.3MD5') {
        $salt = '$1$' . str_pad($salt, 9, '0');
    }
    return crypt($p, $salt);
}

function vtiger_check(string $p, string $hash, string $user_name, string $crypt_type): bool
{
    if ($crypt_type === 'PHASH') {
        return password_verify($p, $hash);
    }
    return vtiger_encrypt_password($user_name, $p, $crypt_type) === $hash;
}

// EspoCRM application/Espo/Core/Utils/PasswordHash.php: verify() = password_verify || legacyVerify.
function espo_check(string $p, string $hash, ?string $passwordSalt): bool
{
    if (password_verify($p, $hash)) {
        return true;
    }
    if ($passwordSalt === null || $passwordSalt === '') {
        return false;
    }
    $salt = '$6$' . $passwordSalt . '$';
    return str_replace($salt, '', crypt(md5($p), $salt)) === $hash;
}

// Dolibarr htdocs/core/lib/security.lib.php: dol_hash() and dol_verifyHash(), with
// getDolGlobalString('MAIN_SECURITY_HASH_ALGO' / 'MAIN_SECURITY_SALT') given as $algo / $salt.
function dol_hash(string $chain, string $type, string $algo, string $salt): string
{
    if (($type === '0' || $type === 'auto') && $algo === 'password_hash') {
        return password_hash($chain, PASSWORD_DEFAULT);
    }
    if ($salt !== '' && $type !== '4' && $type !== 'openldap') {
        $chain = $salt . $chain;
    }
    if ($type === '1' || $type === 'sha1') {
        return sha1($chain);
    } elseif ($type === '2' || $type === 'sha1md5') {
        return sha1(md5($chain));
    } elseif ($type === '3' || $type === 'md5') {
        return md5($chain);
    } elseif ($type === '5' || $type === 'sha256') {
        return hash('sha256', $chain);
    } elseif ($type === '6' || $type === 'password_hash') {
        return password_hash($chain, PASSWORD_DEFAULT);
    } elseif ($algo === 'sha1') {
        return sha1($chain);
    } elseif ($algo === 'sha1md5') {
        return sha1(md5($chain));
    }
    return md5($chain);
}

function dol_verifyHash(string $chain, string $hash, string $type, string $algo, string $salt): bool
{
    if ($type === '0' && $algo === 'password_hash') {
        if ($hash !== '' && $hash[0] === '$') {
            return password_verify($chain, $hash);
        } elseif (strlen($hash) === 32) {
            return dol_verifyHash($chain, $hash, '3', $algo, $salt);
        } elseif (strlen($hash) === 40) {
            return dol_verifyHash($chain, $hash, '2', $algo, $salt);
        }
        return false;
    }
    return dol_hash($chain, $type, $algo, $salt) === $hash;
}

// WukongCRM PHP application/common.php: user_md5($str, $auth_key, $username).
function user_md5(string $str, string $auth_key = '', string $username = ''): string
{
    return md5(sha1($str) . md5($str . $auth_key));
}

switch ($kind) {
    case 'suitecrm':
        $ok = suitecrm_check($p, $hash);
        break;
    case 'vtiger':
        $ok = vtiger_check($p, $hash, (string) ($req['login'] ?? ''), (string) ($req['crypt_type'] ?? ''));
        break;
    case 'espocrm':
        $ok = espo_check($p, $hash, isset($req['password_salt']) ? (string) $req['password_salt'] : null);
        break;
    case 'dolibarr':
        // htdocs/core/login/functions_dolibarr.php check_user_password_dolibarr(): dol_verifyHash on
        // pass_crypted, then the "very old versions" fallback: the plaintext column pass.
        $ok = dol_verifyHash($p, $hash, '0', (string) ($req['algo'] ?? ''), (string) ($req['site_salt'] ?? ''));
        $plain = (string) ($req['pass'] ?? '');
        if (!$ok && $plain !== '' && $p === $plain) {
            $ok = true;
        }
        break;
    case 'crmeb':
        // crmeb/app/services/system/admin/SystemAdminServices.php verifyLogin().
        $ok = password_verify($p, $hash);
        break;
    case 'wukong_php':
        // application/admin/model/User.php login: user_md5($password, $salt, $username) !== $password.
        $ok = hash_equals(user_md5($p, (string) ($req['salt'] ?? ''), (string) ($req['login'] ?? '')), $hash);
        break;
    default:
        fwrite(STDERR, "vendor.php: unknown kind\n");
        exit(2);
}
echo json_encode(['ok' => $ok]), "\n";
