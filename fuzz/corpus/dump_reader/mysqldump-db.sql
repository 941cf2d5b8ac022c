/*M!999999\- enable the sandbox mode */ 
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: 127.0.0.1    Database: ls12_probe
-- ------------------------------------------------------
-- Server version	10.11.19-MariaDB-0+deb12u1

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;

-- Table structure for table `sys_user`
--

USE `crm`;
DROP TABLE IF EXISTS `sys_user`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `sys_user` (
  `user_id` bigint(20) NOT NULL AUTO_INCREMENT COMMENT '用户ID',
  `dept_id` bigint(20) DEFAULT NULL COMMENT '部门ID',
  `login_name` varchar(30) NOT NULL COMMENT '登录账号',
  `user_name` varchar(30) DEFAULT '' COMMENT '用户昵称',
  `user_type` varchar(2) DEFAULT '00' COMMENT '用户类型（00系统用户 01注册用户）',
  `email` varchar(50) DEFAULT '' COMMENT '用户邮箱',
  `phonenumber` varchar(11) DEFAULT '' COMMENT '手机号码',
  `sex` char(1) DEFAULT '0' COMMENT '用户性别（0男 1女 2未知）',
  `avatar` varchar(100) DEFAULT '' COMMENT '头像路径',
  `password` varchar(50) DEFAULT '' COMMENT '密码',
  `salt` varchar(20) DEFAULT '' COMMENT '盐加密',
  `status` char(1) DEFAULT '0' COMMENT '账号状态（0正常 1停用）',
  `del_flag` char(1) DEFAULT '0' COMMENT '删除标志（0代表存在 2代表删除）',
  `login_ip` varchar(128) DEFAULT '' COMMENT '最后登录IP',
  `login_date` datetime DEFAULT NULL COMMENT '最后登录时间',
  `pwd_update_date` datetime DEFAULT NULL COMMENT '密码最后更新时间',
  `create_by` varchar(64) DEFAULT '' COMMENT '创建者',
  `create_time` datetime DEFAULT NULL COMMENT '创建时间',
  `update_by` varchar(64) DEFAULT '' COMMENT '更新者',
  `update_time` datetime DEFAULT NULL COMMENT '更新时间',
  `remark` varchar(500) DEFAULT NULL COMMENT '备注',
  PRIMARY KEY (`user_id`)
) ENGINE=InnoDB AUTO_INCREMENT=109 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='用户信息表';
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `sys_user`
--

LOCK TABLES `sys_user` WRITE;
/*!40000 ALTER TABLE `sys_user` DISABLE KEYS */;
INSERT INTO `sys_user` VALUES
(1,103,'admin','若依','00','ry@163.com','15888888888','1','','29c67a30398638269fe600f73a054934','111111','0','0','127.0.0.1',NULL,NULL,'admin','2026-12-01 09:56:26','',NULL,'管理员'),
(2,105,'ry','若依','00','ry@qq.com','15666666666','1','','8e6d98b90472783cc73c17047ddccf36','222222','0','0','127.0.0.1',NULL,NULL,'admin','2026-12-01 09:56:26','',NULL,'测试员'),
(100,103,'zhangsan','张三','00','zhangsan@example.cn','13700000001','0','','ee9cad05ad5310208071764b2bbf9413','a1b2c3','0','0','',NULL,NULL,'admin','2026-12-01 09:56:27','',NULL,'fixture: known password Zs#2024pass'),
(101,103,'lisi','李四','00','lisi@example.cn','13700000002','0','','f8b995f50d401006e25602292e52b390','b2c3d4','1','0','',NULL,NULL,'admin','2026-12-01 09:56:27','',NULL,'fixture: disabled'),
(102,105,'wangwu','王五','00','wangwu@example.cn','13700000003','0','','29bc3b467a1de5c2b3d8f5dff30151d0','c3d4e5','0','2','',NULL,NULL,'admin','2026-12-01 09:56:27','',NULL,'fixture: soft-deleted'),
(103,105,'it_ops%\'\"','运维\"值班','00','ops@example.cn','13700000004','0','','292cb1280267d7c2fe9c20eea242bdac','d4e5f6','0','0','',NULL,NULL,'admin','2026-12-01 09:56:27','',NULL,'fixture: quotes and wildcards in the login'),
(104,105,'itXopsY','运维X','00','opsx@example.cn','13700000005','0','','8480d0785cf16c6b89f109fbab47d48e','e5f6a7','0','0','',NULL,NULL,'admin','2026-12-01 09:56:27','',NULL,'fixture: decoy for wildcard matching'),
(105,103,'ops_admin','运维管理员','00','opsadmin@example.cn','13700000006','0','','a0deff64d623bb8ec433ba73f9896e77','f6a7b8','0','0','',NULL,NULL,'admin','2026-12-01 09:56:27','',NULL,'fixture: second administrator by role'),
(106,103,'dup','重复一','00','dup1@example.cn','13700000007','0','','5e9c6bcaa1542f6ba1db2fc5d23aa350','a7b8c9','0','0','',NULL,NULL,'admin','2026-12-01 09:56:27','',NULL,'fixture: duplicate login'),
(107,103,'dup','重复二','00','dup2@example.cn','13700000008','0','','f431f065c65b10b9c09cc67d847d7485','b8c9d0','0','0','',NULL,NULL,'admin','2026-12-01 09:56:27','',NULL,'fixture: duplicate login'),
(108,103,'legacy','旧格式','00','legacy@example.cn','13700000009','0','','$1$ad000000$hzXFXvL3XVlnUE/X.1n9t/','','0','0','',NULL,NULL,'admin','2026-12-01 09:56:27','',NULL,'fixture: md5-crypt value, another format (customised install)');
/*!40000 ALTER TABLE `sys_user` ENABLE KEYS */;
UNLOCK TABLES;

-- Dump completed on 2026-12-01  9:56:27
