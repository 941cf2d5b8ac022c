# Example external encoder for Yonyou U8 (用友U8): prints what U8 itself stores in
# UA_User.cPassword for the password read on stdin, by calling U8's own library.
#
# UNTESTED here (no Windows/U8 on the machines Locksmith is built on). The class and
# method names come from third-party integration code (see the u8 connector's notes):
#   UFSoft.U8.Framework.Login.UI.clsLogin.EnPassWord(password)
# Adjust $Dll to the install. Locksmith never trusts this script blindly: writes are
# refused until `locksmith calibrate DONOR` has reproduced a known donor's stored value
# with it, and any edit to this file needs a new calibration.
#
# On the U8 application server (Windows PowerShell 5, 32-bit if U8's assemblies are x86):
#   powershell -NoProfile -ExecutionPolicy Bypass -File C:\locksmith\u8-enpassword.ps1
# From the Linux box running Locksmith, over SSH (the password travels on stdin, never argv):
#   locksmith --encoder ssh --encoder-arg u8admin@u8app \
#     --encoder-arg 'powershell -NoProfile -ExecutionPolicy Bypass -File C:\locksmith\u8-enpassword.ps1' \
#     calibrate demo < known.txt
$ErrorActionPreference = 'Stop'
$Dll = 'C:\U8SOFT\UFSoft.U8.Framework.Login.UI.dll'   # adjust to the install
[Console]::InputEncoding = [System.Text.Encoding]::UTF8
[Console]::OutputEncoding = [System.Text.Encoding]::UTF8
$password = [Console]::In.ReadLine()
if ($null -eq $password -or $password.Length -eq 0) {
    [Console]::Error.WriteLine('no password on stdin')
    exit 2
}
Add-Type -Path $Dll
$encoded = [UFSoft.U8.Framework.Login.UI.clsLogin]::EnPassWord($password)
[Console]::Out.Write($encoded)
[Console]::Out.Write("`n")
